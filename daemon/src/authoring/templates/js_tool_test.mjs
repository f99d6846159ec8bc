// Native test of `{{name}}`: `node --test`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { greet, tools } from "./app.js";

test("greets by name", () => {
  assert.equal(greet({ name: "Ada" }), "Hello, Ada!");
  assert.equal(tools.call("greet", '{"name":"Ada"}', {}), "Hello, Ada!");
  assert.equal(tools.describe()[0].name, "greet");
});
