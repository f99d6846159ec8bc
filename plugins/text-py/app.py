"""text-py: an example agentd plugin in Python (componentize-py 0.25.1),
world `plugin` of agentd:plugin@0.2.0: a tool and a guardrail.

Built by `cargo xtask plugins` (or `agentd plugin build plugins/text-py`).
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.guardrails import GuardrailSpec, Subject_ToolCall, Verdict
from wit_world.exports.tools import ToolSpec
from wit_world.imports.types import ToolError_Failed, ToolError_InvalidArguments

import logic


class Tools(exports.Tools):
    def describe(self):
        return [
            ToolSpec(name=name, description=description, parameters_schema=json.dumps(schema))
            for name, (description, schema, _) in logic.TOOLS.items()
        ]

    def call(self, name, arguments_json, ctx):
        tool = logic.TOOLS.get(name)
        if tool is None:
            raise Err(ToolError_InvalidArguments(f"unknown tool `{name}`"))
        try:
            arguments = json.loads(arguments_json)
        except ValueError as e:
            raise Err(ToolError_InvalidArguments(f"arguments are not JSON: {e}"))
        try:
            return tool[2](**arguments)
        except Exception as e:
            raise Err(ToolError_Failed(str(e)))


class Guardrails(exports.Guardrails):
    def describe(self):
        return [
            GuardrailSpec(name=name, description=description)
            for name, (description, _) in logic.GUARDRAILS.items()
        ]

    def check(self, name, subject, ctx):
        if isinstance(subject, Subject_ToolCall):
            text = subject.value.arguments_json
        else:
            text = subject.value
        try:
            reason = logic.judge(name, text)
        except Exception as e:
            # Contract 0.2: "cannot judge" is an error; agentd trips on it.
            raise Err(str(e))
        return Verdict(tripwire=reason is not None, reason=reason)
