// What the page knows about the sale, kept in step with the server by each lot's seq.
//
// Every event about a lot carries seq = previous + 1. An event at or below what we hold is old
// news (a resync overlapping a snapshot, or the HTTP catalogue arriving late) and is dropped;
// an event beyond the next seq means we missed something, and the caller asks for a resync.
// A snapshot is the server's word and replaces what we hold.

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
    high_bid: null,
    bid_count: 0,
    outcome: null,
    winner: null,
    reason: null,
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
];

export class AuctionState {
  constructor() {
    this.lots = new Map();
    this.sales = new Map();
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
      if (lot.state !== "open") continue;
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
    lot.bids.set(key, known ? { ...known, ...bid } : { ...bid });
  }

  // -- from the HTTP API ---------------------------------------------------------------------

  /** GET /api/sales: the catalogue, and a lot's state when it is newer than ours. */
  applySales(page) {
    const touched = [];
    for (const sale of page.sales) {
      this.sales.set(sale.sale, {
        sale: sale.sale,
        title: sale.title,
        mode: sale.mode,
        state: sale.state,
        lots: sale.lots.map((l) => l.lot),
      });
      for (const summary of sale.lots) {
        const lot = this.lot(summary.lot);
        if (summary.seq > lot.seq) {
          for (const f of LOT_FIELDS) lot[f] = summary[f];
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
      case "lot_opened":
      case "bid_placed":
      case "lot_extended":
      case "lot_closed":
        return this.applyEvent(msg);
      case "sale_started": {
        const known = this.sales.get(msg.sale);
        this.sales.set(msg.sale, {
          sale: msg.sale,
          title: msg.title,
          mode: msg.mode,
          state: "running",
          lots: msg.lots,
        });
        return { sale: msg.sale, unknownLots: !known || msg.lots.some((id) => !this.lots.has(id)) };
      }
      case "sale_ended": {
        const sale = this.sales.get(msg.sale);
        if (sale) sale.state = "ended";
        return { sale: msg.sale };
      }
      default:
        return null;
    }
  }

  applySnapshot(snap) {
    const lot = this.lot(snap.lot);
    for (const f of LOT_FIELDS) lot[f] = snap[f];
    lot.winner = snap.outcome === "sold" && snap.high_bid ? snap.high_bid.bidder : null;
    if (snap.state === "open" && lot.opened_at === null) lot.opened_at = snap.ts;
    for (const bid of snap.bids || []) this.addBid(lot, bid);
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
        for (const f of ["sale", "title", "description", "currency", "starting_price"]) {
          lot[f] = ev[f];
        }
        lot.min_amount = ev.min_amount;
        lot.ends_at = ev.ends_at;
        lot.opened_at = ev.ts;
        break;
      case "bid_placed":
        lot.high_bid = { amount: ev.amount, bidder: ev.bidder };
        lot.min_amount = ev.min_amount;
        lot.ends_at = ev.ends_at;
        lot.bid_count += 1;
        this.addBid(lot, { seq: ev.seq, amount: ev.amount, bidder: ev.bidder, ts: ev.ts });
        break;
      case "lot_extended":
        lot.ends_at = ev.ends_at;
        break;
      case "lot_closed":
        lot.state = "closed";
        lot.outcome = ev.outcome;
        lot.winner = ev.winner;
        lot.reason = ev.reason || null;
        lot.closed_at = ev.ts;
        break;
      default:
        break;
    }
    return { lot: lot.lot, event: ev };
  }
}
