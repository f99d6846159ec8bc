"""The guardrails of `{{name}}`, as plain Python: name -> (description, function).

A function returns None to pass the text, or the reason to stop it.
"""


def no_passwords(text):
    return "mentions a password" if "password" in text.lower() else None


GUARDRAILS = {
    "no_passwords": ("Stops text that mentions a password.", no_passwords),
}
