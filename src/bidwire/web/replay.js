// The replay clock: pure functions, no DOM, no clock of their own (tested in node,
// tests/web/js/replay.test.mjs). A replay is the closed lots' public events as the server kept
// them (GET /api/lots/{id}/replay, /api/sales/{id}/replay; docs/protocol.md "Replay"):
//
//   timeline(lots)       -> every event of every lot in the order it happened, and the span;
//   stateAt(tl, t)       -> what the saleroom showed at virtual time t: each lot's price,
//                           leader, countdown, extensions, bids (voided ones marked);
//   ReplayClock          -> virtual time from the wall clock, at a speed of 1x to 50x, with
//                           pause, resume, seek and restart. Every method takes the wall time
//                           `now` (ms) as an argument, so a test drives it without waiting.
//
// The countdown is the lot's deadline minus the virtual time, as the live page computes it from
// ends_at: an extension shows as the deadline moving later, as it did.

export const SPEEDS = [1, 2, 5, 10, 25, 50];
export const MIN_SPEED = 1;
export const MAX_SPEED = 50;
const RECENT_BIDS = 50; // bids kept per lot for the view (newest first)

/**
 * The events of every lot, ordered by time, then catalogue order, then seq.
 * `lots`: [{lot, title, currency, events, voided}] (the server's replay pages, joined).
 */
export function timeline(lots) {
  const order = new Map();
  const info = new Map();
  const events = [];
  for (const lot of lots) {
    if (!order.has(lot.lot)) order.set(lot.lot, order.size);
    const known = info.get(lot.lot);
    const voided = new Set(lot.voided || []);
    if (known) for (const seq of voided) known.voided.add(seq);
    else info.set(lot.lot, { lot: lot.lot, title: lot.title, currency: lot.currency, voided });
    for (const event of lot.events || []) events.push(event);
  }
  events.sort(
    (a, b) => a.ts - b.ts || order.get(a.lot) - order.get(b.lot) || a.seq - b.seq,
  );
  const start = events.length ? events[0].ts : 0;
  const end = events.length ? events[events.length - 1].ts : 0;
  return { events, lots: [...info.values()], start, end };
}

function freshLot(info) {
  return {
    lot: info.lot,
    title: info.title,
    currency: info.currency,
    state: "scheduled",
    price: null,
    leader: null,
    minAmount: null,
    startingPrice: null,
    endsAt: null,
    firstEndsAt: null,
    latestEnd: null,
    pausedRemaining: 0,
    extensions: 0,
    bidCount: 0,
    bids: [], // newest first: {seq, amount, bidder, ts, auto, voided, willBeVoided}
    openedAt: null,
    lastChange: null,
    outcome: null,
    reason: null,
    winner: null,
    amount: null,
  };
}

function moveDeadline(lot, endsAt) {
  // an extension: the deadline later than any before it (how the report counts them too)
  if (lot.latestEnd !== null && endsAt > lot.latestEnd) lot.extensions += 1;
  lot.latestEnd = lot.latestEnd === null ? endsAt : Math.max(lot.latestEnd, endsAt);
  lot.endsAt = endsAt;
}

/** One event applied to the lot's shown state (a copy of the live page's rules, no more). */
export function apply(lot, event, voided) {
  switch (event.type) {
    case "lot_opened":
      lot.state = "open";
      lot.startingPrice = event.starting_price;
      lot.minAmount = event.min_amount;
      lot.openedAt = event.ts;
      lot.endsAt = event.ends_at;
      lot.latestEnd = event.ends_at;
      lot.firstEndsAt = event.ends_at;
      if (event.title) lot.title = event.title;
      if (event.currency) lot.currency = event.currency;
      break;
    case "bid_placed":
      lot.price = event.amount;
      lot.leader = event.bidder;
      lot.minAmount = event.min_amount;
      lot.bidCount += 1;
      moveDeadline(lot, event.ends_at);
      lot.bids.unshift({
        seq: event.seq,
        amount: event.amount,
        bidder: event.bidder,
        ts: event.ts,
        auto: Boolean(event.auto),
        voided: false,
        willBeVoided: voided.has(event.seq),
      });
      if (lot.bids.length > RECENT_BIDS) lot.bids.length = RECENT_BIDS;
      break;
    case "bid_voided": {
      const struck = new Set(event.voided);
      for (const bid of lot.bids) if (struck.has(bid.seq)) bid.voided = true;
      lot.price = event.amount;
      lot.leader = event.bidder;
      lot.minAmount = event.min_amount;
      lot.bidCount = event.bid_count;
      lot.endsAt = event.ends_at;
      break;
    }
    case "lot_extended":
      moveDeadline(lot, event.ends_at);
      break;
    case "lot_paused":
      lot.state = "paused";
      lot.pausedRemaining = event.remaining_ms;
      break;
    case "lot_resumed":
      lot.state = "open";
      lot.endsAt = event.ends_at;
      // the time left kept over the pause: not an extension
      lot.latestEnd = Math.max(event.ends_at, lot.latestEnd ?? event.ends_at);
      break;
    case "lot_closed":
      lot.state = "closed";
      lot.outcome = event.outcome;
      lot.reason = event.reason || "hammer";
      lot.winner = event.winner;
      lot.amount = event.amount;
      break;
    default:
      return false; // an event this page does not know: shown as nothing
  }
  lot.lastChange = event.ts;
  return true;
}

/** Time left on the lot's countdown at virtual time t (ms), as the live page shows it. */
export function remaining(lot, t) {
  if (lot.state === "open" && lot.endsAt !== null) return Math.max(0, lot.endsAt - t);
  if (lot.state === "paused") return lot.pausedRemaining;
  return 0;
}

/**
 * What the saleroom showed at virtual time t: {t, lots (catalogue order), byLot, applied (how
 * many events), last (the latest event at or before t), focus (the lot to show: the one most
 * recently opened and still open, else the last that moved)}.
 */
export function stateAt(tl, t, from = null) {
  let shown = from;
  if (shown === null || shown.t > t) {
    const byLot = new Map(tl.lots.map((info) => [info.lot, freshLot(info)]));
    shown = { t: tl.start, byLot, applied: 0, last: null };
  }
  const { events } = tl;
  const infos = new Map(tl.lots.map((info) => [info.lot, info]));
  let i = shown.applied;
  while (i < events.length && events[i].ts <= t) {
    const event = events[i];
    let lot = shown.byLot.get(event.lot);
    if (!lot) {
      lot = freshLot({ lot: event.lot, title: event.lot, currency: "USD" });
      shown.byLot.set(event.lot, lot);
    }
    apply(lot, event, infos.get(event.lot)?.voided ?? new Set());
    shown.last = event;
    i += 1;
  }
  shown.applied = i;
  shown.t = t;
  const lots = [...shown.byLot.values()];
  for (const lot of lots) lot.left = remaining(lot, t);
  return { ...shown, lots, focus: focusOf(lots) };
}

/** The lot to show: of those open (or paused), the one that moved last (lots of a timed sale
 *  open together: the bidding is where to look); else the last to move. */
function focusOf(lots) {
  let open = null;
  let moved = null;
  for (const lot of lots) {
    if (lot.state !== "closed" && lot.state !== "scheduled") {
      if (open === null || lot.lastChange >= open.lastChange) open = lot;
    }
    if (lot.lastChange !== null && (moved === null || lot.lastChange >= moved.lastChange)) {
      moved = lot;
    }
  }
  return open ?? moved ?? lots[0] ?? null;
}

/**
 * Quiet stretches: a gap of over QUIET_GAP_MS between two events of the log (a lot open for an
 * hour with its first bid at the end, the pause between two lots of a sale) is skipped while
 * playing, so a replay at 10x does not sit still for minutes. The replay shows SHOW_AFTER_MS of
 * the stretch after the event before it and the last SHOW_BEFORE_MS before the next event (a
 * default bidding window's countdown), and jumps over the rest. Gaps of a lot's closing
 * countdown (10 s by default) are well under QUIET_GAP_MS and always play as they happened.
 */
export const QUIET_GAP_MS = 30_000;
export const SHOW_AFTER_MS = 5_000;
export const SHOW_BEFORE_MS = 10_000;

/** Where to jump from virtual time t to skip a quiet stretch, and how long it skips; or null
 *  when t is not inside the skippable middle of one. */
export function quietJump(tl, t) {
  const { events } = tl;
  let lo = 0;
  let hi = events.length; // the first event later than t
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (events[mid].ts <= t) lo = mid + 1;
    else hi = mid;
  }
  if (lo === 0 || lo === events.length) return null;
  const before = events[lo - 1].ts;
  const next = events[lo].ts;
  const to = next - SHOW_BEFORE_MS;
  if (next - before <= QUIET_GAP_MS || t < before + SHOW_AFTER_MS || t >= to) return null;
  return { to, skipped: to - t };
}

/** A speed clamped to 1x..50x (anything else, such as NaN, is 1x). */
export function clampSpeed(speed) {
  const n = Number(speed);
  if (!Number.isFinite(n)) return MIN_SPEED;
  return Math.min(MAX_SPEED, Math.max(MIN_SPEED, n));
}

/**
 * Virtual time from the wall clock. `start`/`end`: the replay's span (ms of the log's time).
 * Starts paused at `start`; play() runs it at `speed`; it stops by itself at `end`.
 */
export class ReplayClock {
  constructor(start, end, speed = 1) {
    this.start = start;
    this.end = Math.max(start, end);
    this.speed = clampSpeed(speed);
    this.base = start; // virtual time at wallBase
    this.wallBase = 0;
    this.playing = false;
  }

  /** The virtual time at wall time `now`. */
  at(now) {
    if (!this.playing) return this.base;
    return Math.min(this.end, this.base + (now - this.wallBase) * this.speed);
  }

  finished(now) {
    return this.at(now) >= this.end;
  }

  play(now) {
    if (this.playing) return;
    if (this.base >= this.end) this.base = this.start; // play at the end: from the start again
    this.wallBase = now;
    this.playing = true;
  }

  pause(now) {
    this.base = this.at(now);
    this.playing = false;
  }

  /** Keep the virtual time where it is and go on at the new speed. */
  setSpeed(speed, now) {
    this.base = this.at(now);
    this.wallBase = now;
    this.speed = clampSpeed(speed);
  }

  /** Jump to virtual time t (clamped to the span), playing on if it was playing. */
  seek(t, now) {
    this.base = Math.min(this.end, Math.max(this.start, t));
    this.wallBase = now;
  }

  restart(now) {
    this.seek(this.start, now);
  }

  /** How far along, 0..1 (for the scrubber). */
  progress(now) {
    const span = this.end - this.start;
    return span > 0 ? (this.at(now) - this.start) / span : 1;
  }
}

/** "1:05" for 65 s; "1 h 02 min" past an hour (ms rounded up to the second, as the live page). */
export function formatLeft(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s >= 3600) {
    return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
  }
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** The virtual time's place in the replay, "0:42 of 3:10". */
export function formatElapsed(clock, now) {
  const done = clock.at(now) - clock.start;
  return `${formatLeft(done)} of ${formatLeft(clock.end - clock.start)}`;
}
