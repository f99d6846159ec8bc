// Native tests of text-js: `node --test`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { wordCount, noShouting, tools, guardrails, TOO_LONG } from "./app.js";

test("word_count", () => {
  assert.equal(wordCount({ text: "the quick  brown fox" }), "4");
  assert.equal(tools.call("word_count", '{"text":""}', {}), "0");
  assert.throws(() => tools.call("nope", "{}", {}), (e) => e.tag === "invalid-arguments");
});

test("no_shouting", () => {
  assert.equal(noShouting("STOP SHOUTING AT ME"), "shouting: most letters are capitals");
  assert.equal(noShouting("Hello there, NASA"), null);
  const v = guardrails.check("no_shouting", { tag: "input-text", val: "hello" }, {});
  assert.equal(v.tripwire, false);
  assert.throws(() => guardrails.check("no_shouting", { tag: "input-text", val: "a".repeat(TOO_LONG + 1) }, {}));
});
