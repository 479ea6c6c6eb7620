// Unit tests of web/replay.js (the replay clock and the state it shows at a virtual time), run
// by node's own test runner: `node --test tests/web/js/`, or through tests/web/test_web_js.py.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  ReplayClock,
  clampSpeed,
  QUIET_GAP_MS,
  SHOW_AFTER_MS,
  SHOW_BEFORE_MS,
  formatLeft,
  quietJump,
  remaining,
  stateAt,
  timeline,
} from "../../../src/bidwire/web/replay.js";

const T0 = 1_700_000_000_000;

// A lot opened for 60 s; a bid at 10 s, one at 20 s (later voided), a late bid at 55 s that
// moves the deadline to 65 s, the void at 58 s, a pause and a resume, the close at 70 s.
function clockLot() {
  return {
    lot: "clock",
    title: "Mantel Clock",
    currency: "USD",
    voided: [3],
    events: [
      { type: "lot_opened", lot: "clock", seq: 1, sale: "s", title: "Mantel Clock", description: "",
        currency: "USD", starting_price: 1000, min_amount: 1000, ends_at: T0 + 60_000, ts: T0 },
      { type: "bid_placed", lot: "clock", seq: 2, amount: 1000, bidder: "gus", ends_at: T0 + 60_000,
        min_amount: 1100, ts: T0 + 10_000 },
      { type: "bid_placed", lot: "clock", seq: 3, amount: 9000, bidder: "ivy", ends_at: T0 + 60_000,
        min_amount: 9500, ts: T0 + 20_000 },
      { type: "bid_placed", lot: "clock", seq: 4, amount: 9500, bidder: "hal", ends_at: T0 + 65_000,
        min_amount: 10000, ts: T0 + 55_000, auto: true },
      { type: "bid_voided", lot: "clock", seq: 5, voided: [3], amount: 9500, bidder: "hal",
        min_amount: 10000, bid_count: 2, ends_at: T0 + 65_000, by: "root", ts: T0 + 58_000 },
      { type: "lot_paused", lot: "clock", seq: 6, remaining_ms: 6_000, by: "root", ts: T0 + 59_000 },
      { type: "lot_resumed", lot: "clock", seq: 7, ends_at: T0 + 70_000, by: "root", ts: T0 + 64_000 },
      { type: "lot_closed", lot: "clock", seq: 8, outcome: "sold", winner: "hal", amount: 9500,
        reason: "hammer", ts: T0 + 70_000 },
    ],
  };
}

function vaseLot() {
  return {
    lot: "vase",
    title: "Blue Vase",
    currency: "EUR",
    voided: [],
    events: [
      { type: "lot_opened", lot: "vase", seq: 1, sale: "s", title: "Blue Vase", description: "",
        currency: "EUR", starting_price: 500, min_amount: 500, ends_at: T0 + 90_000, ts: T0 + 30_000 },
      { type: "lot_closed", lot: "vase", seq: 2, outcome: "unsold", winner: null, amount: null,
        reason: "no_bids", ts: T0 + 90_000 },
    ],
  };
}

test("the timeline orders every lot's events by time and spans first to last", () => {
  const tl = timeline([vaseLot(), clockLot()]);
  assert.equal(tl.start, T0);
  assert.equal(tl.end, T0 + 90_000);
  const ts = tl.events.map((e) => e.ts);
  assert.deepEqual(ts, [...ts].sort((a, b) => a - b));
  assert.equal(tl.events.length, 10);
  assert.deepEqual(tl.lots.map((l) => l.lot), ["vase", "clock"]);
});

test("pages of one lot join into one lot of the timeline", () => {
  const whole = clockLot();
  const first = { ...whole, events: whole.events.slice(0, 3) };
  const rest = { ...whole, events: whole.events.slice(3) };
  const tl = timeline([first, rest]);
  assert.equal(tl.lots.length, 1);
  assert.deepEqual(tl.events.map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7, 8]);
});

test("before the opening nothing is shown; at it the countdown is the whole window", () => {
  const tl = timeline([clockLot()]);
  const before = stateAt(tl, T0 - 1);
  assert.equal(before.byLot.get("clock").state, "scheduled");
  const opened = stateAt(tl, T0);
  const lot = opened.byLot.get("clock");
  assert.equal(lot.state, "open");
  assert.equal(lot.price, null);
  assert.equal(lot.left, 60_000);
});

test("the countdown runs with virtual time and a bid appears when its time comes", () => {
  const tl = timeline([clockLot()]);
  const at9 = stateAt(tl, T0 + 9_999).byLot.get("clock");
  assert.equal(at9.price, null);
  assert.equal(at9.left, 50_001);
  const at10 = stateAt(tl, T0 + 10_000).byLot.get("clock");
  assert.equal(at10.price, 1000);
  assert.equal(at10.leader, "gus");
  assert.equal(at10.left, 50_000);
  assert.equal(at10.bids.length, 1);
});

test("a late bid moves the deadline: an extension, and the countdown grows back", () => {
  const tl = timeline([clockLot()]);
  const before = stateAt(tl, T0 + 54_000).byLot.get("clock");
  assert.equal(before.left, 6_000);
  assert.equal(before.extensions, 0);
  const after = stateAt(tl, T0 + 55_000).byLot.get("clock");
  assert.equal(after.left, 10_000);
  assert.equal(after.extensions, 1);
  assert.equal(after.bids[0].auto, true);
});

test("a voided bid stands until its void, marked as going to be voided, then is struck", () => {
  const tl = timeline([clockLot()]);
  const standing = stateAt(tl, T0 + 30_000).byLot.get("clock");
  assert.equal(standing.price, 9000);
  assert.equal(standing.leader, "ivy");
  assert.equal(standing.bids[0].willBeVoided, true);
  assert.equal(standing.bids[0].voided, false);
  assert.equal(standing.bids[1].willBeVoided, false);
  const struck = stateAt(tl, T0 + 58_000).byLot.get("clock");
  assert.equal(struck.bids.find((b) => b.seq === 3).voided, true);
  assert.equal(struck.bidCount, 2);
  assert.equal(struck.price, 9500);
});

test("a paused lot keeps its time left; a resume is not an extension", () => {
  const tl = timeline([clockLot()]);
  const paused = stateAt(tl, T0 + 62_000).byLot.get("clock");
  assert.equal(paused.state, "paused");
  assert.equal(paused.left, 6_000);
  const resumed = stateAt(tl, T0 + 66_000).byLot.get("clock");
  assert.equal(resumed.state, "open");
  assert.equal(resumed.left, 4_000);
  assert.equal(resumed.extensions, 1);
});

test("the close shows the outcome, and the focus moves to the lot still open", () => {
  const tl = timeline([clockLot(), vaseLot()]);
  const at25 = stateAt(tl, T0 + 25_000);
  assert.equal(at25.focus.lot, "clock", "the only lot open");
  const at40 = stateAt(tl, T0 + 40_000);
  assert.equal(at40.focus.lot, "vase", "of the lots open, the one that moved last");
  const at56 = stateAt(tl, T0 + 56_000);
  assert.equal(at56.focus.lot, "clock", "a bid on the clock brings it back to view");
  const at75 = stateAt(tl, T0 + 75_000);
  const clock = at75.byLot.get("clock");
  assert.deepEqual([clock.state, clock.outcome, clock.winner, clock.amount, remaining(clock, T0 + 75_000)],
    ["closed", "sold", "hal", 9500, 0]);
  const end = stateAt(tl, tl.end);
  assert.equal(end.byLot.get("vase").reason, "no_bids");
  assert.equal(end.applied, tl.events.length);
});

test("stepping forward from a state equals computing afresh; stepping back starts over", () => {
  const tl = timeline([clockLot(), vaseLot()]);
  let shown = null;
  for (const t of [T0, T0 + 12_000, T0 + 56_000, T0 + 90_000, T0 + 15_000]) {
    shown = stateAt(tl, t, shown);
    const fresh = stateAt(tl, t);
    assert.equal(shown.applied, fresh.applied, `at ${t - T0}`);
    assert.deepEqual(shown.lots, fresh.lots, `at ${t - T0}`);
  }
});

test("the clock runs at its speed, pauses, resumes, seeks and stops at the end", () => {
  const clock = new ReplayClock(T0, T0 + 100_000, 10);
  assert.equal(clock.at(5), T0, "paused at the start until played");
  clock.play(1_000);
  assert.equal(clock.at(2_000), T0 + 10_000, "1 s of wall time is 10 s of replay at 10x");
  clock.pause(3_000);
  assert.equal(clock.at(9_000), T0 + 20_000, "a pause holds the time");
  clock.setSpeed(50, 9_000);
  clock.play(10_000);
  assert.equal(clock.at(11_000), T0 + 70_000);
  clock.seek(T0 + 5_000, 11_000);
  assert.equal(clock.at(11_000), T0 + 5_000);
  assert.equal(clock.at(13_000), T0 + 100_000, "never past the end");
  assert.equal(clock.finished(13_000), true);
  assert.equal(clock.progress(13_000), 1);
  clock.pause(13_000);
  clock.play(14_000);
  assert.equal(clock.at(14_000), T0, "playing at the end plays from the start");
  clock.restart(14_500);
  assert.equal(clock.at(14_500), T0);
});

test("a quiet stretch is skipped from its first seconds to the last before the next event", () => {
  // an hour's lot with its only bid 50 minutes in: 50 minutes of nothing after the opening
  const events = [
    { type: "lot_opened", lot: "desk", seq: 1, ends_at: T0 + 3_600_000, min_amount: 100, ts: T0 },
    { type: "bid_placed", lot: "desk", seq: 2, amount: 100, bidder: "ann", ends_at: T0 + 3_600_000,
      min_amount: 110, ts: T0 + 3_000_000 },
    { type: "bid_placed", lot: "desk", seq: 3, amount: 110, bidder: "bob", ends_at: T0 + 3_600_000,
      min_amount: 120, ts: T0 + 3_000_000 + QUIET_GAP_MS },
    { type: "lot_closed", lot: "desk", seq: 4, outcome: "sold", winner: "bob", amount: 110,
      reason: "hammer", ts: T0 + 3_600_000 },
  ];
  const tl = timeline([{ lot: "desk", title: "Desk", currency: "USD", voided: [], events }]);
  assert.equal(quietJump(tl, T0), null, "the opening itself is shown");
  assert.equal(quietJump(tl, T0 + SHOW_AFTER_MS - 1), null, "and the first seconds after it");
  const jump = quietJump(tl, T0 + SHOW_AFTER_MS);
  assert.deepEqual(jump, { to: T0 + 3_000_000 - SHOW_BEFORE_MS, skipped: 3_000_000 - SHOW_AFTER_MS - SHOW_BEFORE_MS });
  assert.equal(quietJump(tl, jump.to), null, "the last seconds before the bid play");
  assert.equal(quietJump(tl, T0 + 3_000_000 + 20_000), null, "a gap of exactly QUIET_GAP_MS is not quiet");
  const closing = quietJump(tl, T0 + 3_000_000 + QUIET_GAP_MS + SHOW_AFTER_MS);
  assert.equal(closing.to, T0 + 3_600_000 - SHOW_BEFORE_MS, "the countdown's last seconds to the close play");
  assert.equal(quietJump(tl, T0 + 3_600_000), null, "nothing after the last event");
});

test("a lot's closing countdown is never skipped: its gaps are shorter than a quiet stretch", () => {
  const tl = timeline([vaseLot()]);
  // the vase: opened, 60 s of nothing, closed: quiet; a 10 s window after a bid is not
  assert.ok(quietJump(tl, T0 + 30_000 + SHOW_AFTER_MS));
  const bids = timeline([clockLot()]);
  for (let t = T0 + 55_000; t < T0 + 70_000; t += 500) assert.equal(quietJump(bids, t), null);
});

test("a speed outside 1x..50x is brought back into it", () => {
  assert.equal(clampSpeed(0), 1);
  assert.equal(clampSpeed(200), 50);
  assert.equal(clampSpeed("25"), 25);
  assert.equal(clampSpeed(Number.NaN), 1);
  const clock = new ReplayClock(T0, T0 + 1000, 500);
  assert.equal(clock.speed, 50);
});

test("time left reads as the live page's", () => {
  assert.equal(formatLeft(65_000), "1:05");
  assert.equal(formatLeft(1), "0:01");
  assert.equal(formatLeft(3_720_000), "1 h 02 min");
});
