// What the page knows about the sale, kept in step with the server by each lot's seq.
//
// Every event about a lot carries seq = previous + 1. An event at or below what we hold is old
// news (a resync overlapping a snapshot, or the HTTP catalogue arriving late) and is dropped;
// an event beyond the next seq means we missed something, and the caller asks for a resync.
// A snapshot is the server's word and replaces what we hold.
//
// A snapshot lists the lot's most recent STANDING bids; a voided bid is left out of it but not
// out of the HTTP history, so a history bid newer than the snapshot's oldest one, at or below its
// seq, and missing from it, was voided (see markVoidedBySnapshot).

function bidKey(bid) {
  return `${bid.ts}|${bid.amount}|${bid.bidder}`;
}

function emptyLot(id) {
  return {
    lot: id,
    seq: -1,
    state: "scheduled",
    sale: "",
    title: id,
    description: "",
    currency: "USD",
    starting_price: 0,
    min_amount: 0,
    ends_at: null,
    remaining_ms: null, // while paused: the time left on the stopped clock
    extend_ms: null, // the lot's bid window (each bid in a live sale resets the clock to it)
    high_bid: null,
    bid_count: 0,
    outcome: null,
    winner: null,
    reason: null,
    closed_amount: null,
    reserve: false,
    reserve_met: false,
    buy_now: null, // the buy-now price while offered
    estimate_low: null, // the catalog's estimate (either end may be null)
    estimate_high: null,
    buy_now_price: null, // the price once seen: offered again if a void leaves no bid
    my_max: null, // the viewer's own maximum, when they left one above their bid
    snapshot: null, // {seq, keys} of the last snapshot, to tell which history bids were voided
    opened_at: null,
    closed_at: null,
    bids: new Map(),
    historyBefore: undefined, // undefined: not fetched; null: nothing older; n: fetch before n
  };
}

const LOT_FIELDS = [
  "seq",
  "state",
  "sale",
  "title",
  "description",
  "currency",
  "starting_price",
  "min_amount",
  "ends_at",
  "high_bid",
  "bid_count",
  "outcome",
  "reason",
  "reserve",
  "reserve_met",
  "buy_now",
  "estimate_low",
  "estimate_high",
];

// How far along a sale is: it never goes back (held and scheduled are both "not yet").
const SALE_ORDER = { held: 0, scheduled: 0, running: 1, paused: 1, ended: 2 };

export class AuctionState {
  constructor() {
    this.lots = new Map();
    this.sales = new Map();
    this.salesLoaded = false; // whether the catalogue has been read once
  }

  lot(id) {
    let lot = this.lots.get(id);
    if (!lot) {
      lot = emptyLot(id);
      this.lots.set(id, lot);
    }
    return lot;
  }

  /** The lot a bare bid goes to: the most recently opened one still open. */
  onTheBlock() {
    let best = null;
    for (const lot of this.lots.values()) {
      if (lot.state !== "open" && lot.state !== "paused") continue;
      if (!best || (lot.opened_at ?? 0) >= (best.opened_at ?? 0)) best = lot;
    }
    return best;
  }

  bidsOf(lot) {
    return [...lot.bids.values()].sort((a, b) => b.ts - a.ts || b.amount - a.amount);
  }

  addBid(lot, bid) {
    const key = bidKey(bid);
    const known = lot.bids.get(key);
    // Sources differ in what they know (the HTTP history has no `auto`, a snapshot no seq):
    // keep what each one knows.
    const merged = known ? { ...known, ...bid } : { ...bid };
    if (known?.auto) merged.auto = true;
    if (known?.voided) merged.voided = true;
    lot.bids.set(key, merged);
  }

  /** Bids the last snapshot should have listed, and did not: they were voided. */
  markVoidedBySnapshot(lot) {
    const snap = lot.snapshot;
    if (!snap) return;
    let floor = Infinity;
    for (const [key, bid] of lot.bids) {
      if (snap.keys.has(key) && typeof bid.seq === "number") floor = Math.min(floor, bid.seq);
    }
    if (snap.keys.size === 0 && lot.bid_count === 0) floor = 0; // every bid was voided
    for (const [key, bid] of lot.bids) {
      if (typeof bid.seq !== "number" || snap.keys.has(key)) continue;
      if (bid.seq > floor && bid.seq <= snap.seq) bid.voided = true;
    }
  }

  rememberBuyNow(lot, price) {
    lot.buy_now = price ?? null;
    if (price !== null && price !== undefined) lot.buy_now_price = price;
  }

  // -- from the HTTP API ---------------------------------------------------------------------

  /**
   * GET /api/sales: the catalogue, and a lot's state when it is newer than ours. A sale's own
   * state is the page's unless the page has seen it move on since (a sale_started or
   * sale_ended that came over the WebSocket after this page was read): a sale only goes
   * forward, from held or scheduled to running (or paused) to ended.
   */
  applySales(page) {
    const touched = [];
    this.salesLoaded = true;
    // The listing is every sale there is: one it no longer has was retired (an old run of the
    // demo), and leaves the page too.
    const listed = new Set(page.sales.map((sale) => sale.sale));
    for (const id of [...this.sales.keys()]) if (!listed.has(id)) this.sales.delete(id);
    for (const sale of page.sales) {
      const known = this.sales.get(sale.sale);
      const fresh = {
        sale: sale.sale,
        title: sale.title,
        mode: sale.mode,
        state: sale.state,
        starts_at: sale.starts_at ?? null,
        started_at: sale.started_at ?? null,
        ended_at: sale.ended_at ?? null,
        reason: sale.reason ?? null,
        lots: sale.lots.map((l) => l.lot),
      };
      if (known && SALE_ORDER[known.state] > SALE_ORDER[fresh.state]) {
        for (const f of ["state", "started_at", "ended_at", "reason"]) fresh[f] = known[f];
      }
      this.sales.set(sale.sale, fresh);
      for (const summary of sale.lots) {
        const lot = this.lot(summary.lot);
        if (typeof summary.extend_ms === "number") lot.extend_ms = summary.extend_ms;
        if (summary.seq > lot.seq) {
          for (const f of LOT_FIELDS) lot[f] = summary[f];
          lot.remaining_ms = summary.remaining_ms ?? null;
          this.rememberBuyNow(lot, summary.buy_now);
          if (summary.outcome === "sold" && summary.high_bid) lot.winner = summary.high_bid.bidder;
          touched.push(lot.lot);
        }
      }
    }
    return touched;
  }

  /** GET /api/lots/{id}/bids: older bids, with their seqs. */
  applyHistory(page) {
    const lot = this.lot(page.lot);
    for (const bid of page.bids) this.addBid(lot, bid);
    lot.historyBefore = page.next_before_seq;
    this.markVoidedBySnapshot(lot);
  }

  // -- from the WebSocket --------------------------------------------------------------------

  /**
   * Apply one server message. Returns {lot, gap, event} so the caller can react:
   * gap = the seq we hold when a message came from beyond the next one (resync from there).
   */
  apply(msg) {
    switch (msg.type) {
      case "snapshot":
        return this.applySnapshot(msg);
      case "sale_started": {
        const known = this.sales.get(msg.sale);
        this.sales.set(msg.sale, {
          ...known,
          sale: msg.sale,
          title: msg.title,
          mode: msg.mode,
          state: known?.state === "ended" ? "ended" : "running",
          starts_at: known?.starts_at ?? null,
          started_at: msg.ts,
          ended_at: known?.ended_at ?? null,
          reason: known?.reason ?? null,
          lots: msg.lots,
        });
        return { sale: msg.sale, unknownLots: !known || msg.lots.some((id) => !this.lots.has(id)) };
      }
      case "sale_ended": {
        const sale = this.sales.get(msg.sale);
        if (sale) Object.assign(sale, { state: "ended", ended_at: msg.ts, reason: msg.reason || "done" });
        // Read the catalogue again: the next sale may be scheduled in the same moment (the
        // demo's next run), so the page can say when it starts.
        return { sale: msg.sale, unknownLots: true };
      }
      case "sale_paused":
      case "sale_resumed": {
        const sale = this.sales.get(msg.sale);
        if (sale && sale.state !== "ended") sale.state = msg.type === "sale_paused" ? "paused" : "running";
        return { sale: msg.sale, unknownLots: !sale };
      }
      default:
        // Every other event about a lot keeps its seq moving, known or not (max_raised says
        // nothing else), so no gap is seen where there is none.
        if (typeof msg.lot === "string" && typeof msg.seq === "number" && msg.type !== "bid_accepted") {
          return this.applyEvent(msg);
        }
        return null;
    }
  }

  applySnapshot(snap) {
    const lot = this.lot(snap.lot);
    for (const f of LOT_FIELDS) lot[f] = snap[f];
    lot.remaining_ms = snap.state === "paused" ? snap.remaining_ms ?? null : null;
    if (typeof snap.extend_ms === "number") lot.extend_ms = snap.extend_ms;
    lot.winner = snap.outcome === "sold" && snap.high_bid ? snap.high_bid.bidder : null;
    this.rememberBuyNow(lot, snap.buy_now);
    // high_bid.max_amount is only in the leader's own snapshot: it is ours.
    if (snap.high_bid && typeof snap.high_bid.max_amount === "number") {
      lot.my_max = snap.high_bid.max_amount;
    }
    if (snap.state === "open" && lot.opened_at === null) lot.opened_at = snap.ts;
    const keys = new Set();
    for (const bid of snap.bids || []) {
      this.addBid(lot, bid);
      keys.add(bidKey(bid));
    }
    lot.snapshot = { seq: snap.seq, keys };
    this.markVoidedBySnapshot(lot);
    return { lot: lot.lot, snapshot: true };
  }

  applyEvent(ev) {
    const lot = this.lot(ev.lot);
    if (lot.seq >= 0 && ev.seq <= lot.seq) return { lot: lot.lot, stale: true };
    if (lot.seq >= 0 && ev.seq > lot.seq + 1) return { lot: lot.lot, gap: lot.seq };
    if (lot.seq < 0 && ev.seq !== 1) {
      // We never saw this lot: its history is unknown, so ask for all of it.
      return { lot: lot.lot, gap: 0 };
    }
    lot.seq = ev.seq;
    switch (ev.type) {
      case "lot_opened":
        lot.state = "open";
        for (const f of ["sale", "title", "description", "currency", "starting_price", "estimate_low", "estimate_high"]) {
          lot[f] = ev[f] ?? null;
        }
        lot.min_amount = ev.min_amount;
        lot.ends_at = ev.ends_at;
        lot.opened_at = ev.ts;
        lot.reserve = Boolean(ev.reserve);
        lot.reserve_met = Boolean(ev.reserve_met);
        this.rememberBuyNow(lot, ev.buy_now);
        break;
      case "bid_placed":
        lot.high_bid = { amount: ev.amount, bidder: ev.bidder };
        lot.min_amount = ev.min_amount;
        lot.ends_at = ev.ends_at;
        lot.bid_count += 1;
        lot.buy_now = null; // offered only until the first bid
        if (typeof ev.reserve_met === "boolean") lot.reserve_met = ev.reserve_met;
        this.addBid(lot, {
          seq: ev.seq,
          amount: ev.amount,
          bidder: ev.bidder,
          ts: ev.ts,
          auto: Boolean(ev.auto),
        });
        break;
      case "bid_voided": {
        lot.high_bid = ev.amount === null ? null : { amount: ev.amount, bidder: ev.bidder };
        lot.min_amount = ev.min_amount;
        lot.bid_count = ev.bid_count;
        lot.ends_at = ev.ends_at;
        lot.reserve_met = typeof ev.reserve_met === "boolean" ? ev.reserve_met : ev.amount !== null;
        if (ev.amount === null) lot.buy_now = lot.buy_now_price; // no bid stands: offered again
        const gone = new Set(ev.voided);
        for (const bid of lot.bids.values()) if (gone.has(bid.seq)) bid.voided = true;
        break;
      }
      case "lot_paused":
        lot.state = "paused";
        lot.remaining_ms = typeof ev.remaining_ms === "number" ? ev.remaining_ms : null;
        break;
      case "lot_resumed":
        lot.state = "open";
        lot.ends_at = ev.ends_at; // the clock runs again from here, not from the old deadline
        lot.remaining_ms = null;
        break;
      case "lot_extended":
        lot.ends_at = ev.ends_at;
        break;
      case "lot_closed":
        lot.state = "closed";
        lot.outcome = ev.outcome;
        lot.winner = ev.winner;
        lot.reason = ev.reason || null;
        lot.closed_amount = ev.amount ?? null;
        lot.closed_at = ev.ts;
        lot.remaining_ms = null;
        lot.buy_now = null;
        if (ev.reason === "buy_now") lot.high_bid = { amount: ev.amount, bidder: ev.winner };
        break;
      default:
        break;
    }
    return { lot: lot.lot, event: ev };
  }
}
