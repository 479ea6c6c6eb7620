// Unit tests of web/history.js's pure part (routes, API paths, pages, words), run by node's
// own test runner: `node --test tests/web/js/`, or through tests/web/test_web_js.py.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  apiPath,
  failureWords,
  headingOf,
  normalise,
  notesOf,
  parseRoute,
  routeOf,
  whoWords,
} from "../../../src/bidwire/web/history.js";
import { Aliases } from "../../../src/bidwire/web/you.js";

test("a route reads back, ids escaped", () => {
  for (const [scope, id] of [["sale", "spring"], ["lot", "a lot/with #odd?chars"], ["mine", null]]) {
    assert.deepEqual(parseRoute(routeOf(scope, id)), { scope, id });
  }
  assert.equal(routeOf("sale", "a b"), "#history/sale/a%20b");
});

test("what is no history's route is null", () => {
  for (const hash of ["", "#", "#lot/x", "#history", "#history/sale", "#history/sale/", "#history/mine/x", "#history/lot/%E0%A4%A", "#history/bidder/x"]) {
    assert.equal(parseRoute(hash), null, hash);
  }
});

test("the API path: public or admin, the cursor each route takes", () => {
  const sale = { scope: "sale", id: "s 1" };
  assert.equal(apiPath(sale), "/api/sales/s%201/bids?limit=50");
  assert.equal(apiPath(sale, { admin: true, before: "5:2:x", limit: 10 }), "/api/admin/sales/s%201/bids?limit=10&before=5%3A2%3Ax");
  assert.equal(apiPath({ scope: "lot", id: "l" }, { before: "7" }), "/api/lots/l/bids?limit=50&before_seq=7");
  assert.equal(apiPath({ scope: "lot", id: "l" }, { admin: true }), "/api/admin/lots/l/bids?limit=50");
  assert.equal(apiPath({ scope: "mine", id: null }, { admin: true, before: "1:1:l" }), "/api/me/bids?limit=50&before=1%3A1%3Al");
});

test("a lot's own page takes the history's shape", () => {
  const route = { scope: "lot", id: "clock" };
  const page = { lot: "clock", bids: [{ seq: 4, amount: 1200, bidder: "ann", ts: 1 }], next_before_seq: 4 };
  const { bids, next } = normalise(route, page, { title: "Clock", sale: "s", currency: "EUR" });
  assert.equal(next, "4");
  assert.deepEqual(bids[0], { seq: 4, amount: 1200, bidder: "ann", ts: 1, lot: "clock", title: "Clock", sale: "s", currency: "EUR" });
  assert.equal(normalise(route, { bids: [], next_before_seq: null }).next, null);
  const sale = normalise({ scope: "sale", id: "s" }, { bids: [{ seq: 1 }], next_before: "9:1:x" });
  assert.deepEqual(sale, { bids: [{ seq: 1 }], next: "9:1:x" });
});

test("rows say who, and what is special about a bid", () => {
  const bid = { bidder: "ann", amount: 1500, max_amount: 4000, currency: "USD", auto: true, voided: true, alias: "Bidder 3F" };
  assert.equal(whoWords(bid, "sale", "ann"), "you");
  assert.equal(whoWords(bid, "sale", "bob"), "ann");
  assert.equal(whoWords(bid, "sale", null), "ann");
  assert.equal(whoWords(bid, "mine", null), "you");
  // in an anonymous sale, the pseudonym this page was told is mine, in that sale only
  const aliases = new Aliases();
  aliases.learn("quiet", "Bidder 3F");
  assert.equal(whoWords({ bidder: "Bidder 3F", sale: "quiet" }, "sale", "ann", aliases), "you");
  assert.equal(whoWords({ bidder: "Bidder 3F", sale: "other" }, "sale", "ann", aliases), "Bidder 3F");
  assert.equal(whoWords({ bidder: "Bidder 9C", sale: "quiet" }, "sale", "ann", aliases), "Bidder 9C");
  const notes = notesOf(bid, "mine");
  assert.deepEqual(notes.slice(0, 3), ["automatic", "voided", "others saw Bidder 3F"]);
  assert.match(notes[3], /^your maximum .*40/);
  assert.deepEqual(notesOf({ amount: 5, max_amount: 5 }, "sale"), []); // a maximum spent is no news
});

test("headings and failures in words", () => {
  assert.equal(headingOf({ scope: "mine" }), "My bids");
  assert.equal(headingOf({ scope: "sale", id: "s" }, { title: "Spring Sale" }), "Bids in Spring Sale");
  assert.equal(headingOf({ scope: "lot", id: "l" }, null, { title: "Clock" }), "Bids on Clock");
  assert.match(failureWords({ scope: "mine" }, 401, "not_authenticated"), /Log in/);
  assert.equal(failureWords({ scope: "sale", id: "x" }, 404, "unknown_sale"), 'There is no sale "x".');
  assert.match(failureWords({ scope: "sale", id: "x" }, 503, "unavailable", "try later"), /try later/);
});
