"""`{{name}}`: an agentd tool plugin in Python (componentize-py 0.25.1).

Build the component: `agentd plugin build` (writes `{{name}}.wasm`).
Test natively: `python3 test_logic.py` (the logic lives in logic.py, which
imports nothing from the component bindings).
"""

import json

from componentize_py_types import Err
from wit_world import exports
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
