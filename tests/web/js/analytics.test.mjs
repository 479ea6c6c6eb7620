// Unit tests of web/analytics_model.js (the analytics page's arithmetic), run by node's own
// test runner: `node --test tests/web/js/`, or through tests/web/test_web_js.py.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  MINUTE_MS,
  RefetchPacer,
  bucketByMinute,
  duration,
  estimateBand,
  feedBid,
  fillMinutes,
  headlines,
  keepLatest,
  lotRows,
  outcomeShares,
  outcomeWords,
  percent,
  priceSeries,
  relevance,
  reserveWords,
} from "../../../src/bidwire/web/analytics_model.js";

const T0 = 1_700_000_080_000; // 40 s past a minute

test("the band of a hammer against the estimate is the server's rule", () => {
  assert.equal(estimateBand(900, 1000, 2000), "below");
  assert.equal(estimateBand(1000, 1000, 2000), "within"); // the bounds are inside
  assert.equal(estimateBand(2000, 1000, 2000), "within");
  assert.equal(estimateBand(2001, 1000, 2000), "above");
  assert.equal(estimateBand(5, null, 10), "within"); // only a high estimate
  assert.equal(estimateBand(11, null, 10), "above");
  assert.equal(estimateBand(5, 10, null), "below"); // only a low one
  assert.equal(estimateBand(50, 10, null), "within");
  assert.equal(estimateBand(null, 10, 20), null); // not sold
  assert.equal(estimateBand(15, null, null), null); // no estimate
});

test("bids are counted by the minute they fall in, voided ones left out", () => {
  const bids = [
    { seq: 3, ts: T0 + 25_000, amount: 3 }, // the next minute
    { seq: 1, ts: T0, amount: 1 },
    { seq: 2, ts: T0 + 19_999, amount: 2 }, // the last ms of T0's minute
    { seq: 4, ts: T0 + 26_000, amount: 4, voided: true },
  ];
  const start = T0 - 40_000;
  assert.deepEqual(bucketByMinute(bids), [
    { minute: start, bids: 2 },
    { minute: start + MINUTE_MS, bids: 1 },
  ]);
  assert.deepEqual(bucketByMinute([]), []);
});

test("quiet minutes are filled with zeros, and a long sale gets wider bars", () => {
  const start = T0 - 40_000;
  const sparse = [
    { minute: start + 3 * MINUTE_MS, bids: 4 },
    { minute: start, bids: 2 },
  ];
  const { width, buckets } = fillMinutes(sparse);
  assert.equal(width, MINUTE_MS);
  assert.deepEqual(
    buckets.map((b) => b.bids),
    [2, 0, 0, 4],
  );
  assert.equal(buckets[1].minute, start + MINUTE_MS);
  // 10 minutes into at most 4 bars: 3 minutes a bar, no bid lost
  const long = Array.from({ length: 10 }, (_, i) => ({ minute: start + i * MINUTE_MS, bids: i + 1 }));
  const wide = fillMinutes(long, 4);
  assert.equal(wide.width, 3 * MINUTE_MS);
  assert.deepEqual(
    wide.buckets.map((b) => b.bids),
    [1 + 2 + 3, 4 + 5 + 6, 7 + 8 + 9, 10],
  );
  assert.equal(wide.buckets.reduce((n, b) => n + b.bids, 0), 55);
  assert.deepEqual(fillMinutes([]).buckets, []);
});

test("a lot's price series is its standing bids oldest first", () => {
  const newestFirst = [
    { seq: 5, ts: 50, amount: 300, bidder: "bob", auto: true },
    { seq: 4, ts: 40, amount: 250, bidder: "ann", voided: true },
    { seq: 2, ts: 20, amount: 200, bidder: "bob" },
    { seq: 1, ts: 10, amount: 100, bidder: "ann" },
  ];
  assert.deepEqual(priceSeries(newestFirst), {
    ts: [10, 20, 50],
    amount: [100, 200, 300],
    bidder: ["ann", "bob", "bob"],
    auto: [false, false, true],
  });
});

test("lot rows take estimates from the listing when the report has none", () => {
  const report = {
    per_lot: [
      { lot: "a", outcome: "sold", reason: "hammer", hammer: 2500, estimate: null },
      { lot: "b", outcome: "unsold", reason: "reserve_not_met", hammer: null },
      { lot: "c", outcome: "sold", reason: "buy_now", hammer: 900, estimate_low: 1000, estimate_high: 1200 },
    ],
  };
  const listing = new Map([
    ["a", { estimate_low: 1000, estimate_high: 2000, starting_price: 500 }],
    ["b", { estimate_low: 100, estimate_high: null, starting_price: 50 }],
    ["c", { estimate_low: 1, estimate_high: 2, starting_price: 800 }],
  ]);
  const rows = lotRows(report, listing);
  assert.deepEqual(
    rows.map((r) => [r.lot, r.band, r.estimate_low, r.estimate_high, r.starting_price, r.words]),
    [
      ["a", "above", 1000, 2000, 500, "sold at the hammer"],
      ["b", null, 100, null, 50, "reserve not met"],
      ["c", "below", 1000, 1200, 800, "bought now"], // the report's own estimates win
    ],
  );
  assert.deepEqual(lotRows(null), []);
});

test("outcome shares split the sale's lots without double counting", () => {
  const report = { lots: 7, sold: 3, bought_now: 1, unsold: 2, bought_in: 1, withdrawn: 1, open: 1 };
  const shares = outcomeShares(report);
  assert.deepEqual(
    shares.map((s) => [s.key, s.count]),
    [
      ["hammer", 2],
      ["buy_now", 1],
      ["reserve_not_met", 1],
      ["no_bids", 1],
      ["withdrawn", 1],
      ["open", 1],
    ],
  );
  assert.equal(
    shares.reduce((n, s) => n + s.count, 0),
    report.lots,
  );
  assert.deepEqual(
    outcomeShares({ lots: 2, sold: 0, bought_now: 0, unsold: 0, bought_in: 0, withdrawn: 0, open: 2 }).map((s) => s.key),
    ["open"],
  );
});

test("headlines show what the report has, in words, never an invented zero", () => {
  const report = {
    lots: 4,
    sold: 2,
    withdrawn: 1,
    sell_through_lots: 2 / 3,
    sell_through_value: 0.5,
    currency: "USD",
    hammer_total: 123456,
    bids: 1234,
    auto_bids: 5,
    unique_bidders: 3,
    sniping_share: 0.25,
    bought_in: 1,
  };
  const shown = Object.fromEntries(headlines(report).map((h) => [h.key, h]));
  assert.equal(shown.sell_through_lots.value, "66.7%");
  assert.equal(shown.sell_through_lots.note, "2 of 3 offered");
  assert.equal(shown.hammer_total.value, "$1,234.56");
  assert.equal(shown.bids.value, "1,234");
  assert.equal(shown.bids.note, "5 automatic");
  assert.equal(shown.sniping_share.value, "25%");
  assert.equal(shown.mean_hammer, undefined); // not in this report: not shown
  const mixed = Object.fromEntries(
    headlines({ ...report, currency: null, hammer_total: null, sell_through_value: null, median_hammer: null }).map((h) => [h.key, h.value]),
  );
  assert.equal(mixed.hammer_total, "mixed currencies");
  assert.equal(mixed.median_hammer, "mixed currencies");
  assert.equal(mixed.sell_through_value, "—");
  assert.equal(percent(undefined), "—");
  assert.deepEqual(headlines(null), []);
});

test("outcome words", () => {
  assert.equal(outcomeWords("open", null), "open");
  assert.equal(outcomeWords("sold", "buy_now"), "bought now");
  assert.equal(outcomeWords("unsold", "withdrawn"), "withdrawn");
  assert.equal(outcomeWords("unsold", null), "unsold");
});

test("only the sale's lots' figure events matter", () => {
  const lots = new Set(["a", "b"]);
  assert.deepEqual(relevance({ type: "bid_placed", lot: "a" }, "s", lots), { lot: "a", bids: true, listing: false });
  assert.deepEqual(relevance({ type: "lot_closed", lot: "b" }, "s", lots), { lot: "b", bids: false, listing: true });
  assert.deepEqual(relevance({ type: "bid_voided", lot: "b" }, "s", lots), { lot: "b", bids: true, listing: false });
  assert.equal(relevance({ type: "bid_placed", lot: "other" }, "s", lots), null);
  assert.equal(relevance({ type: "max_raised", lot: "a" }, "s", lots), null);
  assert.equal(relevance({ type: "pong" }, "s", lots), null);
  assert.equal(relevance(null, "s", lots), null);
  assert.deepEqual(relevance({ type: "sale_ended", sale: "s" }, "s", lots), { lot: null, bids: false, listing: true });
  assert.equal(relevance({ type: "sale_ended", sale: "t" }, "s", lots), null);
  // a lot added to the running sale opens: the listing is read again to learn it
  assert.deepEqual(relevance({ type: "lot_opened", lot: "new", sale: "s" }, "s", lots), { lot: "new", bids: false, listing: true });
  assert.equal(relevance({ type: "lot_opened", lot: "new", sale: "t" }, "s", lots), null);
});

test("the pacer fetches at once, then at most once a gap, never two at a time", () => {
  const pacer = new RefetchPacer(1000);
  assert.equal(pacer.heard(10_000), 0); // nothing fetched lately: now
  assert.equal(pacer.heard(10_001), null); // already due
  pacer.started(10_002);
  assert.equal(pacer.heard(10_100), null); // in flight: wait for it to end
  assert.equal(pacer.heard(10_200), null);
  assert.equal(pacer.done(10_300), 702); // what came meanwhile: once, at the gap's end
  pacer.started(11_002);
  assert.equal(pacer.done(11_050), null); // nothing more came
  assert.equal(pacer.heard(11_500), 502); // within the gap: at its end
  assert.equal(pacer.heard(11_600), null);
  pacer.started(12_002);
  assert.equal(pacer.done(12_100), null);
  assert.equal(pacer.heard(20_000), 0); // long quiet: at once again
  // a burst of 1,000 bids in one gap is one fetch
  const burst = new RefetchPacer(1000);
  let due = 0;
  for (let i = 0; i < 1000; i += 1) if (burst.heard(50_000 + i) !== null) due += 1;
  assert.equal(due, 1);
});

test("the figures a newer report adds are shown when it has them", () => {
  const report = { lots: 1, sold: 1, withdrawn: 0, currency: "EUR", mean_hammer: 1050, median_hammer: null, auto_share: 0.125, mean_time_to_sell_ms: 260_000 };
  const shown = Object.fromEntries(headlines(report).map((h) => [h.key, h.value]));
  assert.equal(shown.mean_hammer, "€10.50");
  assert.equal(shown.median_hammer, "—");
  assert.equal(shown.auto_share, "12.5%");
  assert.equal(shown.mean_time_to_sell_ms, "4 min 20 s");
  assert.equal(shown.sniping_extend_share, undefined);
  const rows = lotRows({ per_lot: [{ lot: "a", outcome: "open", reason: null, hammer: null, reserve_band: "below" }] });
  assert.equal(rows[0].words, "open · below the reserve");
  assert.equal(reserveWords("met"), "reserve met");
  assert.equal(reserveWords(null), "");
});

test("durations for people", () => {
  assert.equal(duration(0), "0 s");
  assert.equal(duration(44_600), "45 s");
  assert.equal(duration(120_000), "2 min");
  assert.equal(duration(7_500_000), "2 h 05 min");
  assert.equal(duration(null), "—");
  assert.equal(duration(-1), "—");
});

test("a bid from the feed is a history row at once, marked as fed", () => {
  const placed = { type: "bid_placed", lot: "a", seq: 7, amount: 1500, bidder: "Bidder 3F2A", ts: 99, ends_at: 200, auto: true };
  assert.deepEqual(feedBid(placed), { seq: 7, amount: 1500, bidder: "Bidder 3F2A", ts: 99, auto: true, fed: true });
  assert.equal(feedBid({ ...placed, auto: undefined }).auto, false);
  assert.equal(feedBid({ ...placed, type: "max_raised" }), null);
  assert.equal(feedBid({ ...placed, amount: "1500" }), null);
  assert.equal(feedBid({ ...placed, seq: 1.5 }), null);
  assert.equal(feedBid(null), null);
  // it joins the series like any bid
  assert.deepEqual(priceSeries([feedBid(placed), { seq: 3, ts: 50, amount: 1000, bidder: "ann" }]).amount, [1000, 1500]);
});

test("a lot's bids stay bounded to its latest ones", () => {
  const bySeq = new Map();
  for (let seq = 20; seq >= 1; seq -= 1) bySeq.set(seq, { seq }); // pages come newest first
  assert.equal(keepLatest(bySeq, 10, 5), true);
  assert.deepEqual([...bySeq.keys()].sort((a, b) => a - b), [11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
  for (let seq = 21; seq <= 25; seq += 1) bySeq.set(seq, { seq });
  assert.equal(keepLatest(bySeq, 10, 5), false); // within the slack: nothing sorted
  assert.equal(bySeq.size, 15);
});
