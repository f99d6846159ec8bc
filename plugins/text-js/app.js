// text-js: an example agentd plugin in JavaScript (jco 1.30.0 +
// componentize-js 0.22.0, `--disable all`), world `plugin` of
// agentd:plugin@0.2.0: a tool and a guardrail.
//
// Built by `cargo xtask plugins` (or `agentd plugin build plugins/text-js`);
// tested natively by `node --test` (test.mjs).

// Text it refuses to judge (the guardrail's error path, contract 0.2).
export const TOO_LONG = 100000;

export function wordCount({ text }) {
  const words = text.split(/\s+/).filter((w) => w.length > 0);
  return String(words.length);
}

// null to pass; a reason when most letters of a longer text are capitals.
export function noShouting(text) {
  const letters = [...text].filter((c) => c.toLowerCase() !== c.toUpperCase());
  if (letters.length < 8) return null;
  const upper = letters.filter((c) => c === c.toUpperCase()).length;
  return upper * 4 >= letters.length * 3 ? "shouting: most letters are capitals" : null;
}

const TOOLS = {
  word_count: {
    description: "Counts the words in a text.",
    schema: {
      type: "object",
      properties: { text: { type: "string" } },
      required: ["text"],
      additionalProperties: false,
    },
    run: wordCount,
  },
};

const GUARDRAILS = {
  no_shouting: { description: "Stops text written mostly in capitals.", run: noShouting },
};

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
    if (!tool) throw { tag: "invalid-arguments", val: `unknown tool \`${name}\`` };
    let args;
    try {
      args = JSON.parse(argumentsJson);
    } catch (e) {
      throw { tag: "invalid-arguments", val: `arguments are not JSON: ${e}` };
    }
    try {
      return tool.run(args);
    } catch (e) {
      throw { tag: "failed", val: String(e) };
    }
  },
};

export const guardrails = {
  describe() {
    return Object.entries(GUARDRAILS).map(([name, g]) => ({ name, description: g.description }));
  },
  check(name, subject, _ctx) {
    const guardrail = GUARDRAILS[name];
    // Contract 0.2: "cannot judge" is an error; agentd trips on it.
    if (!guardrail) throw `unknown guardrail \`${name}\``;
    const text = subject.tag === "tool-call" ? subject.val.argumentsJson : subject.val;
    if (text.length > TOO_LONG) throw `text of ${text.length} characters is too long to judge`;
    const reason = guardrail.run(text);
    return { tripwire: reason !== null, reason: reason ?? undefined };
  },
};
