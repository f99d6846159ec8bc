"""text-py's tools and guardrails as plain Python (no component bindings), so
`python3 test_logic.py` tests them natively."""



def word_count(text):
    """The number of words in `text`."""
    return str(len(text.split()))


def no_shouting(text):
    """None to pass; a reason when most letters of a longer text are capitals."""
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 8:
        return None
    upper = sum(1 for c in letters if c.isupper())
    if upper * 4 >= len(letters) * 3:
        return "shouting: most letters are capitals"
    return None


TOOLS = {
    "word_count": (
        "Counts the words in a text.",
        {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
            "additionalProperties": False,
        },
        word_count,
    ),
}

GUARDRAILS = {
    "no_shouting": ("Stops text written mostly in capitals.", no_shouting),
}

# Only for the guardrail's error path (contract 0.2): text it refuses to judge.
TOO_LONG = 100_000


def judge(name, text):
    if name not in GUARDRAILS:
        raise KeyError(f"unknown guardrail `{name}`")
    if len(text) > TOO_LONG:
        raise ValueError(f"text of {len(text)} characters is too long to judge")
    return GUARDRAILS[name][1](text)


