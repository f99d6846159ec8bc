// `{{name}}`: an agentd guardrail plugin in JavaScript (jco 1.30.0 + componentize-js 0.22.0).
//
// Build the component: `agentd plugin build` (writes `{{name}}.wasm`).
// Test natively: `node --test` (runs test.mjs against the functions below).

// Returns null to pass the text, or the reason to stop it.
export function noPasswords(text) {
  return text.toLowerCase().includes("password") ? "mentions a password" : null;
}

export const GUARDRAILS = {
  no_passwords: { description: "Stops text that mentions a password.", run: noPasswords },
};

// The `guardrails` export of the agentd:plugin contract.
export const guardrails = {
  describe() {
    return Object.entries(GUARDRAILS).map(([name, g]) => ({ name, description: g.description }));
  },
  check(name, subject, _ctx) {
    const guardrail = GUARDRAILS[name];
    if (!guardrail) {
      // Contract 0.2: an error means "cannot judge"; agentd trips on it.
      throw `unknown guardrail \`${name}\``;
    }
    const text = subject.tag === "tool-call" ? subject.val.argumentsJson : subject.val;
    const reason = guardrail.run(text);
    return { tripwire: reason !== null, reason: reason ?? undefined };
  },
};
