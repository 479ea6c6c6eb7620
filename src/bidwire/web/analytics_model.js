// The analytics page's arithmetic: pure functions and one pure policy (time passed in), no DOM,
// no fetch, no clock (tested in node: tests/web/js/analytics.test.mjs). The page draws what
// these return; the figures themselves come from the server's report.

import { formatMoney } from "./money.js";

export const MINUTE_MS = 60_000;
/** At most this many bars in "bids over time": a longer sale gets wider buckets. */
export const MAX_BUCKETS = 360;
/** The most bids of one lot the price chart reads (pages of the admin history). */
export const MAX_CHART_BIDS = 5_000;
/** A bid for a lot of the sale refetches at most once in this long. */
export const REFETCH_GAP_MS = 1_000;

/**
 * The hammer against the catalog's estimate, the server's rule (engine/report.py
 * ``estimate_band``): below the low, above the high, else within; null without a hammer or an
 * estimate.
 */
export function estimateBand(hammer, low, high) {
  const given = (v) => typeof v === "number" && Number.isFinite(v);
  if (!given(hammer) || (!given(low) && !given(high))) return null;
  if (given(low) && hammer < low) return "below";
  if (given(high) && hammer > high) return "above";
  return "within";
}

/** The minute a time falls in (ms at the minute's start). */
export function minuteOf(ts) {
  return Math.floor(ts / MINUTE_MS) * MINUTE_MS;
}

/** Counted bids (voided ones left out) by minute: [{minute, bids}], sparse, oldest first. */
export function bucketByMinute(bids) {
  const counts = new Map();
  for (const bid of bids) {
    if (!bid || bid.voided || typeof bid.ts !== "number") continue;
    const minute = minuteOf(bid.ts);
    counts.set(minute, (counts.get(minute) || 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([minute, n]) => ({ minute, bids: n }));
}

/**
 * A continuous series from sparse [{minute, bids}] (the report's ``bids_per_minute`` or
 * ``bucketByMinute``'s): the quiet minutes in between as zeros, so a pause in the bidding shows.
 * Bounded: past ``maxBuckets`` minutes, each bar spans several (``width`` says how many ms).
 */
export function fillMinutes(rows, maxBuckets = MAX_BUCKETS) {
  const clean = rows
    .filter((r) => r && Number.isFinite(r.minute) && Number.isFinite(r.bids))
    .sort((a, b) => a.minute - b.minute);
  if (!clean.length) return { width: MINUTE_MS, buckets: [] };
  const first = minuteOf(clean[0].minute);
  const last = minuteOf(clean[clean.length - 1].minute);
  const minutes = (last - first) / MINUTE_MS + 1;
  const per = Math.max(1, Math.ceil(minutes / Math.max(1, maxBuckets)));
  const width = per * MINUTE_MS;
  const count = Math.ceil(minutes / per);
  const buckets = Array.from({ length: count }, (_, i) => ({ minute: first + i * width, bids: 0 }));
  for (const row of clean) buckets[Math.floor((minuteOf(row.minute) - first) / width)].bids += row.bids;
  return { width, buckets };
}

/**
 * A lot's price over time from its admin history (pages newest first, in any order): the
 * counted bids oldest first, as columns for a chart. Voided bids are left out (they no longer
 * stand); automatic ones are kept and marked.
 */
export function priceSeries(bids) {
  const kept = bids.filter((b) => b && !b.voided).sort((a, b) => a.seq - b.seq);
  return {
    ts: kept.map((b) => b.ts),
    amount: kept.map((b) => b.amount),
    bidder: kept.map((b) => b.bidder),
    auto: kept.map((b) => Boolean(b.auto)),
  };
}

export const REASON_WORDS = {
  hammer: "sold at the hammer",
  buy_now: "bought now",
  reserve_not_met: "reserve not met",
  no_bids: "no bids",
  withdrawn: "withdrawn",
};

/** A lot's state in words: "open", "sold at the hammer", "reserve not met", ... */
export function outcomeWords(outcome, reason) {
  if (outcome === "open" || !reason) return outcome === "sold" ? "sold" : outcome === "unsold" ? "unsold" : "open";
  return REASON_WORDS[reason] || reason;
}

/**
 * The per-lot rows of the page: the report's ``per_lot`` with each lot's starting price and
 * estimates (the report's own fields when it has them, else the lot listing's), and the
 * hammer's band against the estimate.
 */
export function lotRows(report, lotsById = new Map()) {
  return (report?.per_lot || []).map((row) => {
    const lot = lotsById.get(row.lot) || {};
    const pick = (key) => (row[key] !== undefined ? row[key] : lot[key] !== undefined ? lot[key] : null);
    const low = pick("estimate_low");
    const high = pick("estimate_high");
    const band = row.estimate !== undefined && row.estimate !== null ? row.estimate : estimateBand(row.hammer, low, high);
    return {
      ...row,
      starting_price: pick("starting_price"),
      estimate_low: low,
      estimate_high: high,
      band,
      words: [outcomeWords(row.outcome, row.reason), reserveWords(row.reserve_band)].filter(Boolean).join(" · "),
    };
  });
}

/** How the sale's lots ended so far, for the sell-through chart: [{key, label, count}], no zeros. */
export function outcomeShares(report) {
  if (!report) return [];
  const bought = report.bought_now || 0;
  const boughtIn = report.bought_in || 0;
  const parts = [
    ["hammer", "Sold at the hammer", (report.sold || 0) - bought],
    ["buy_now", "Bought now", bought],
    ["reserve_not_met", "Reserve not met", boughtIn],
    ["no_bids", "No bids", (report.unsold || 0) - boughtIn],
    ["withdrawn", "Withdrawn", report.withdrawn || 0],
    ["open", "Still open", report.open || 0],
  ];
  return parts.filter(([, , n]) => n > 0).map(([key, label, count]) => ({ key, label, count }));
}

export function percent(share) {
  if (typeof share !== "number" || !Number.isFinite(share)) return "—";
  return `${Math.round(share * 1000) / 10}%`;
}

function count(n) {
  return typeof n === "number" ? n.toLocaleString("en-US") : "—";
}

function money(report, key) {
  const value = report[key];
  if (value === null || value === undefined || !report.currency) {
    return report.currency ? "—" : "mixed currencies";
  }
  return formatMoney(value, report.currency);
}

/** A duration for people: "45 s", "4 min 20 s", "2 h 05 min". */
export function duration(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) return "—";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/** The hammer (or the high bid) against the reserve, for admins: the report's reserve_band. */
export function reserveWords(band) {
  return band === "met" ? "reserve met" : band === "below" ? "below the reserve" : "";
}

// The headline figures, in the order shown; a figure the report does not have (an older
// server, or a newer field not yet there) is left out, never shown as a made-up zero.
const HEADLINES = [
  ["sell_through_lots", "Sell-through (lots)", (r) => percent(r.sell_through_lots), (r) => `${count(r.sold)} of ${count(r.lots - r.withdrawn)} offered`],
  ["sell_through_value", "Sell-through (value)", (r) => (r.sell_through_value === null ? "—" : percent(r.sell_through_value)), () => "hammer / value offered"],
  ["hammer_total", "Hammer total", (r) => money(r, "hammer_total"), (r) => `${count(r.sold)} sold`],
  ["mean_hammer", "Mean hammer", (r) => money(r, "mean_hammer"), () => "per lot sold"],
  ["median_hammer", "Median hammer", (r) => money(r, "median_hammer"), () => "per lot sold"],
  ["bids", "Bids", (r) => count(r.bids), (r) => `${count(r.auto_bids)} automatic`],
  ["unique_bidders", "Bidders", (r) => count(r.unique_bidders), () => "placed at least one bid"],
  ["sniping_share", "Sniping", (r) => percent(r.sniping_share), () => "bids in a lot's last 10%"],
  ["bought_in", "Bought in", (r) => count(r.bought_in), () => "reserve not met"],
  ["top_bidder_share", "Top bidder", (r) => percent(r.top_bidder_share), () => "share of the bids"],
  ["auto_share", "Automatic", (r) => percent(r.auto_share), () => "bids placed for a maximum"],
  ["sniping_extend_share", "Late bids", (r) => percent(r.sniping_extend_share), () => "in a lot's last extend window"],
  ["mean_time_to_sell_ms", "Time to sell", (r) => duration(r.mean_time_to_sell_ms), () => "mean, opening to close"],
];

/** The report's headline figures as [{key, label, value, note}] (text, ready to show). */
export function headlines(report) {
  if (!report) return [];
  return HEADLINES.filter(([key]) => report[key] !== undefined).map(([key, label, value, note]) => ({
    key,
    label,
    value: value(report),
    note: note(report),
  }));
}

// Events that change the sale's figures; the others (max_raised, pings, snapshots) do not.
const FIGURE_EVENTS = new Set([
  "bid_placed",
  "bid_voided",
  "lot_opened",
  "lot_closed",
  "lot_extended",
  "lot_paused",
  "lot_resumed",
]);
// These change a lot's state in the listing too (its estimates, its state).
const LISTING_EVENTS = new Set(["lot_opened", "lot_closed"]);

/**
 * What a feed message means for the page showing ``saleId`` whose lots are ``lotIds`` (a Set):
 * null when nothing, else {lot, bids: whether its price chart needs reading again, listing:
 * whether the lot listing does}. A sale's own events (started, ended) re-read the listing.
 */
export function relevance(message, saleId, lotIds) {
  if (!message || typeof message.type !== "string") return null;
  if (message.type.startsWith("sale_") && message.sale === saleId) return { lot: null, bids: false, listing: true };
  // a lot added to the running sale: not in the listing we hold yet
  if (message.type === "lot_opened" && message.sale === saleId && !lotIds.has(message.lot)) {
    return { lot: message.lot, bids: false, listing: true };
  }
  if (!FIGURE_EVENTS.has(message.type) || !lotIds.has(message.lot)) return null;
  const bids = message.type === "bid_placed" || message.type === "bid_voided";
  return { lot: message.lot, bids, listing: LISTING_EVENTS.has(message.type) };
}

/**
 * A bid as the admin history lists it, from the feed's ``bid_placed`` (null if it is not one):
 * the price chart takes it at once, without asking the server (an admin's connection is told
 * the real bidder, also in an anonymous sale). ``fed``: not yet read from the store.
 */
export function feedBid(message) {
  if (!message || message.type !== "bid_placed") return null;
  const { lot, seq, amount, bidder, ts } = message;
  if (typeof lot !== "string" || ![seq, amount, ts].every(Number.isInteger) || typeof bidder !== "string") return null;
  return { seq, amount, bidder, ts, auto: message.auto === true, fed: true };
}

/**
 * Bound a lot's bids (a Map seq -> bid) to its latest ``max``, once it is ``slack`` over (so
 * the sort is paid once in ``slack`` bids); true when it dropped some.
 */
export function keepLatest(bySeq, max = MAX_CHART_BIDS, slack = 500) {
  if (bySeq.size <= max + slack) return false;
  const seqs = [...bySeq.keys()].sort((a, b) => a - b);
  for (const seq of seqs.slice(0, seqs.length - max)) bySeq.delete(seq);
  return true;
}

/**
 * When to refetch, as bids arrive: at once when the last fetch started at least ``gap`` ago,
 * else once at the end of the gap, however many bids came in it (one fetch in flight at a
 * time; what arrived meanwhile is fetched when it ends). Pure: the page passes the time in
 * and runs the timers.
 */
export class RefetchPacer {
  constructor(gap = REFETCH_GAP_MS) {
    this.gap = gap;
    this.lastStart = -Infinity;
    this.busy = false;
    this.waiting = false; // something arrived that the running or next fetch must pick up
  }

  /** Something changed at ``now``: the delay (ms) after which to fetch, or null if one is due. */
  heard(now) {
    if (this.waiting) return null;
    this.waiting = true;
    if (this.busy) return null; // done() will say when
    return Math.max(0, this.lastStart + this.gap - now);
  }

  /** A fetch starts at ``now`` (it picks up everything heard so far). */
  started(now) {
    this.lastStart = now;
    this.busy = true;
    this.waiting = false;
  }

  /** The fetch ended at ``now``: the delay for the next one, or null when nothing waits. */
  done(now) {
    this.busy = false;
    if (!this.waiting) return null;
    return Math.max(0, this.lastStart + this.gap - now);
  }
}
