"""The tools of `{{name}}`, as plain Python: name -> (description, JSON Schema, function)."""


def greet(name):
    return f"Hello, {name}!"


TOOLS = {
    "greet": (
        "Greets someone by name.",
        {
            "type": "object",
            "properties": {"name": {"type": "string"}},
            "required": ["name"],
            "additionalProperties": False,
        },
        greet,
    ),
}
