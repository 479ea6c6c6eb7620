// Unit tests of web/you.js (who "you" are on the page), run by node's own test runner:
// `node --test tests/web/js/`, or through tests/web/test_web_js.py.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Aliases, endedWords, isYou, renamedWords } from "../../../src/bidwire/web/you.js";

test("your own name is you, in any sale", () => {
  const aliases = new Aliases();
  assert.equal(isYou("ann", "ann", aliases, "evening"), true);
  assert.equal(isYou("bob", "ann", aliases, "evening"), false);
  assert.equal(isYou("Ann", "ann", aliases, "evening"), false); // the server's spelling decides
});

test("your pseudonym is you only in the sale it was given for", () => {
  const aliases = new Aliases();
  aliases.learn("evening", "Bidder 3F2A");
  assert.equal(isYou("Bidder 3F2A", "ann", aliases, "evening"), true);
  assert.equal(isYou("Bidder 3F2A", "ann", aliases, "morning"), false);
  assert.equal(isYou("Bidder 77C1", "ann", aliases, "evening"), false);
  aliases.learn("evening", "Bidder 9D00"); // a login changed who we are: the new one counts
  assert.equal(isYou("Bidder 3F2A", "ann", aliases, "evening"), false);
  assert.equal(isYou("Bidder 9D00", "ann", aliases, "evening"), true);
  aliases.clear();
  assert.equal(isYou("Bidder 9D00", "ann", aliases, "evening"), false);
});

test("nobody is you without a bidder or a name", () => {
  const aliases = new Aliases();
  aliases.learn("", "x"); // a message without a sale teaches nothing
  aliases.learn("evening", "");
  assert.equal(aliases.of("evening"), null);
  assert.equal(isYou(null, "ann", aliases, "evening"), false);
  assert.equal(isYou("", "", aliases, "evening"), false);
  assert.equal(isYou("ann", null, null, "evening"), false);
  assert.equal(isYou(undefined, undefined, aliases, undefined), false);
});

test("a guest given another name is told, in words", () => {
  assert.equal(renamedWords("Bob", "Bob-2"), "Bob is taken by another guest; you bid as Bob-2.");
  assert.equal(renamedWords("bob", "bob"), "");
  assert.equal(renamedWords(null, "bea"), ""); // an account's login asks for no name
  assert.equal(renamedWords("bob", null), "");
});

test("blocked and logged out end the connection, in words; other errors do not", () => {
  const blocked = { type: "error", code: "forbidden", reason: "blocked", message: "m" };
  assert.match(endedWords(blocked), /blocked your account; you can no longer bid here/);
  assert.match(endedWords({ ...blocked, reason: "logged_out" }), /logged out/);
  assert.equal(endedWords({ ...blocked, reason: undefined }), "");
  assert.equal(endedWords({ type: "bid_rejected", reason: "blocked" }), "");
  assert.equal(endedWords(null), "");
});
