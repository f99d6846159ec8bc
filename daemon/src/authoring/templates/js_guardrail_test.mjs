// Native test of `{{name}}`: `node --test`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { noPasswords, guardrails } from "./app.js";

test("trips on passwords only", () => {
  assert.equal(noPasswords("my Password is 1234"), "mentions a password");
  assert.equal(noPasswords("hello"), null);
  const v = guardrails.check("no_passwords", { tag: "output-text", val: "password!" }, {});
  assert.equal(v.tripwire, true);
});
