"""`{{name}}`: an agentd guardrail plugin in Python (componentize-py 0.25.1).

Build the component: `agentd plugin build` (writes `{{name}}.wasm`).
Test natively: `python3 test_logic.py`.
"""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.guardrails import (
    GuardrailSpec,
    Subject_InputText,
    Subject_OutputText,
    Subject_ToolCall,
    Verdict,
)

import logic


class Guardrails(exports.Guardrails):
    def describe(self):
        return [
            GuardrailSpec(name=name, description=description)
            for name, (description, _) in logic.GUARDRAILS.items()
        ]

    def check(self, name, subject, ctx):
        guardrail = logic.GUARDRAILS.get(name)
        if guardrail is None:
            # Contract 0.2: an error means "cannot judge"; agentd trips on it.
            raise Err(f"unknown guardrail `{name}`")
        if isinstance(subject, Subject_ToolCall):
            text = subject.value.arguments_json
        else:
            text = subject.value
        try:
            reason = guardrail[1](text)
        except Exception as e:
            raise Err(str(e))
        return Verdict(tripwire=reason is not None, reason=reason)
