// `{{name}}`: an agentd tool plugin in JavaScript (jco 1.30.0 + componentize-js 0.22.0).
//
// Build the component: `agentd plugin build` (writes `{{name}}.wasm`).
// Test natively: `node --test` (runs test.mjs against the functions below).

export function greet({ name }) {
  return `Hello, ${name}!`;
}

export const TOOLS = {
  greet: {
    description: "Greets someone by name.",
    schema: {
      type: "object",
      properties: { name: { type: "string" } },
      required: ["name"],
      additionalProperties: false,
    },
    run: greet,
  },
};

// The `tools` export of the agentd:plugin contract.
export const tools = {
  describe() {
    return Object.entries(TOOLS).map(([name, t]) => ({
      name,
      description: t.description,
      parametersSchema: JSON.stringify(t.schema),
    }));
  },
  call(name, argumentsJson, _ctx) {
    const tool = TOOLS[name];
    if (!tool) {
      throw { tag: "invalid-arguments", val: `unknown tool \`${name}\`` };
    }
    let args;
    try {
      args = JSON.parse(argumentsJson);
    } catch (e) {
      throw { tag: "invalid-arguments", val: `arguments are not JSON: ${e}` };
    }
    try {
      return String(tool.run(args));
    } catch (e) {
      throw { tag: "failed", val: String(e) };
    }
  },
};
