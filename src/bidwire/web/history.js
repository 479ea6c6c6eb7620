// Bid histories: a sale's bids (#history/sale/<id>), a lot's (#history/lot/<id>) and my own
// (#history/mine, "My bids" in the top bar), a page at a time from the HTTP API
// (docs/protocol.md "Bid histories (bidwire)"): newest first, automatic bids marked, voided
// ones struck through, pseudonyms in an anonymous sale as the server sends them (an admin's
// page asks the admin routes, which name the bidders).
//
// app.js starts it with one line: startHistory(currentLot). The functions exported above
// startHistory are pure (no DOM): tests/web/js/history.test.mjs runs them in node.

import { formatMoney } from "./money.js";
import { isYou } from "./you.js";

export const PAGE = 50;
const ROUTE = /^#history\/(sale|lot|mine)(?:\/(.*))?$/;

/** The history a location hash asks for: {scope, id}, or null when it is no history's. */
export function parseRoute(hash) {
  const found = ROUTE.exec(hash || "");
  if (!found) return null;
  const [, scope, raw] = found;
  if (scope === "mine") return raw ? null : { scope, id: null };
  if (!raw) return null;
  try {
    return { scope, id: decodeURIComponent(raw) };
  } catch {
    return null; // a broken %-escape: no history
  }
}

export function routeOf(scope, id = null) {
  return scope === "mine" ? "#history/mine" : `#history/${scope}/${encodeURIComponent(id)}`;
}

/** The API path of a page: the admin routes (real names) for an admin, the public ones else. */
export function apiPath(route, { admin = false, before = null, limit = PAGE } = {}) {
  const id = route.id === null ? "" : encodeURIComponent(route.id);
  const query = new URLSearchParams({ limit: String(limit) });
  let path;
  if (route.scope === "mine") path = "/api/me/bids";
  else if (route.scope === "sale") path = admin ? `/api/admin/sales/${id}/bids` : `/api/sales/${id}/bids`;
  else path = admin ? `/api/admin/lots/${id}/bids` : `/api/lots/${id}/bids`;
  if (before !== null) query.set(route.scope === "lot" ? "before_seq" : "before", before);
  return `${path}?${query}`;
}

/** One page in one shape: a lot's own history (BidHistory) has its seq cursor and no titles. */
export function normalise(route, page, lot = null) {
  if (route.scope === "lot") {
    const bids = (page.bids || []).map((b) => ({
      ...b,
      lot: route.id,
      title: lot?.title ?? route.id,
      sale: lot?.sale ?? "",
      currency: lot?.currency ?? "USD",
    }));
    const next = page.next_before_seq === null || page.next_before_seq === undefined ? null : String(page.next_before_seq);
    return { bids, next };
  }
  return { bids: page.bids || [], next: page.next_before ?? null };
}

/**
 * Who a row names: "you" for my own bids (all of them in my history), by my name or, in an
 * anonymous sale, by the pseudonym the server told this page alone (`aliases`, web/you.js).
 */
export function whoWords(bid, scope, me, aliases = null) {
  if (scope === "mine") return "you";
  return isYou(bid.bidder, me, aliases, bid.sale) ? "you" : bid.bidder;
}

/** The short notes of a row, in words. */
export function notesOf(bid, scope) {
  const notes = [];
  if (bid.auto) notes.push("automatic");
  if (bid.voided) notes.push("voided");
  if (bid.alias) notes.push(`others saw ${bid.alias}`);
  if (bid.max_amount !== null && bid.max_amount !== undefined && bid.max_amount !== bid.amount) {
    notes.push(`${scope === "mine" ? "your " : ""}maximum ${formatMoney(bid.max_amount, bid.currency)}`);
  }
  return notes;
}

export function headingOf(route, page, lot) {
  if (route.scope === "mine") return "My bids";
  if (route.scope === "sale") return `Bids in ${page?.title ?? route.id}`;
  return `Bids on ${lot?.title ?? route.id}`;
}

/** What to say instead of rows, from an error's HTTP status and wire code. */
export function failureWords(route, status, code, message) {
  if (route.scope === "mine" && (status === 401 || code === "not_authenticated")) {
    return "Log in, or place a bid as a guest, to see your bids here.";
  }
  if (code === "unknown_sale") return `There is no sale "${route.id}".`;
  if (code === "unknown_lot") return `There is no lot "${route.id}".`;
  return message ? `The bids cannot be shown: ${message}` : "The bids cannot be shown right now; try again.";
}

// -- the view (DOM) ---------------------------------------------------------------------------

const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
};

function when(ts) {
  const d = new Date(ts);
  const today = new Date().toDateString() === d.toDateString();
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return today ? time : `${d.toLocaleDateString([], { day: "numeric", month: "short" })} ${time}`;
}

class HistoryView {
  constructor(currentLot) {
    this.currentLot = currentLot;
    this.route = null;
    this.back = "#";
    this.loading = 0; // a later route's load wins over an earlier one still in flight
    this.build();
    window.addEventListener("hashchange", () => this.sync());
    this.sync();
  }

  build() {
    this.title = el("h2", { id: "hv-title", dataset: { testid: "history-view-title" } });
    this.sub = el("p", { className: "hv-sub" });
    this.close = el("a", { className: "hv-close", href: "#", dataset: { testid: "history-view-close" } }, "Close");
    this.close.addEventListener("click", (event) => {
      event.preventDefault();
      location.hash = this.back;
    });
    this.list = el("ol", { className: "hv-list", dataset: { testid: "history-view-list" } });
    this.status = el("p", { className: "hv-status", role: "status" });
    this.more = el("button", { type: "button", className: "more", hidden: true, dataset: { testid: "history-view-more" } }, "Show older bids");
    this.more.addEventListener("click", () => this.load(true));
    const card = el("div", { className: "hv-card card" },
      el("header", { className: "hv-head" }, el("div", {}, this.title, this.sub), this.close),
      this.list, this.status, this.more);
    this.root = el("section", {
      id: "bid-history-view", className: "hv", hidden: true, role: "dialog",
      "aria-modal": "true", "aria-labelledby": "hv-title", dataset: { testid: "history-view" },
    }, card);
    this.root.addEventListener("click", (event) => {
      if (event.target === this.root) this.close.click(); // a click beside the card closes it
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !this.root.hidden) this.close.click();
    });
    document.body.append(this.root);

    // The ways in: "My bids" in the top bar, and the sale's bids from the lot's history panel.
    const mine = el("a", { className: "topbar-link hv-mine", href: routeOf("mine"), dataset: { testid: "my-bids-link" } }, "My bids");
    const right = document.querySelector(".topbar-right");
    right?.insertBefore(mine, document.getElementById("theme-toggle"));
    this.saleLink = el("a", { className: "hv-sale-link", href: "#", hidden: true, dataset: { testid: "sale-bids-link" } }, "Every bid in this sale →");
    const refresh = () => {
      const lot = this.currentLot();
      this.saleLink.hidden = !lot?.sale;
      if (lot?.sale) this.saleLink.href = routeOf("sale", lot.sale);
    };
    this.saleLink.addEventListener("click", refresh);
    document.getElementById("history-more")?.after(this.saleLink);
    refresh();
    setInterval(refresh, 1000);
  }

  admin() {
    const link = document.getElementById("admin-link");
    return link !== null && !link.hidden;
  }

  me() {
    const name = document.getElementById("me-name")?.textContent ?? "";
    return name && name !== "Guest" ? name : null;
  }

  sync() {
    const route = parseRoute(location.hash);
    if (route === null) {
      if (!location.hash.startsWith("#history")) this.back = location.hash || "#";
      if (!this.root.hidden) {
        this.root.hidden = true;
        document.body.classList.remove("hv-open");
      }
      if (location.hash.startsWith("#history")) this.show(null);
      return;
    }
    this.show(route);
  }

  show(route) {
    this.route = route;
    this.page = null;
    this.lot = null;
    this.next = null;
    this.list.replaceChildren();
    this.more.hidden = true;
    this.root.hidden = false;
    document.body.classList.add("hv-open");
    if (route === null) {
      this.title.textContent = "Bid history";
      this.sub.textContent = "";
      this.status.textContent = "This link names no history: try a sale's, a lot's, or My bids.";
      return;
    }
    this.title.textContent = headingOf(route, null, null);
    this.sub.textContent = "";
    this.load(false);
    this.close.focus({ preventScroll: true });
  }

  async load(older) {
    const route = this.route;
    const ticket = ++this.loading;
    this.status.textContent = "Loading…";
    this.more.disabled = true;
    const admin = this.admin() && route.scope !== "mine";
    try {
      if (route.scope === "lot" && this.lot === null) {
        const reply = await fetch(`/api/lots/${encodeURIComponent(route.id)}`, { credentials: "same-origin" });
        if (ticket !== this.loading) return;
        if (!reply.ok) return this.failed(reply);
        this.lot = await reply.json();
      }
      const before = older ? this.next : null;
      const reply = await fetch(apiPath(route, { admin, before }), { credentials: "same-origin" });
      if (ticket !== this.loading) return;
      if (!reply.ok) return this.failed(reply);
      const page = await reply.json();
      if (ticket !== this.loading) return;
      this.page = page;
      const { bids, next } = normalise(route, page, this.lot);
      this.next = next;
      this.title.textContent = headingOf(route, page, this.lot);
      this.sub.textContent = this.subtitle(route, admin);
      for (const bid of bids) this.list.append(this.row(bid, route));
      const shown = this.list.children.length;
      this.status.textContent = shown === 0 ? (route.scope === "mine" ? "You have placed no bids yet." : "No bids yet.")
        : next === null ? `${shown} bid${shown === 1 ? "" : "s"}, all shown.` : `The newest ${shown} bids.`;
      this.more.hidden = next === null;
    } catch {
      if (ticket === this.loading) this.status.textContent = "The bids cannot be shown: the server did not answer.";
    } finally {
      if (ticket === this.loading) this.more.disabled = false;
    }
  }

  subtitle(route, admin) {
    if (route.scope === "mine") return "Every bid you placed, newest first, in every sale.";
    const who = admin ? "Bidders by name (you are an admin)." : "";
    return `Newest first. ${who}`.trim();
  }

  async failed(reply) {
    let body = {};
    try {
      body = await reply.json();
    } catch {
      // not JSON: the status says enough
    }
    if (this.list.children.length === 0) this.title.textContent = "Bid history";
    this.status.textContent = failureWords(this.route, reply.status, body.code, body.message);
  }

  row(bid, route) {
    const who = whoWords(bid, route.scope, this.me(), this.aliases);
    const notes = notesOf(bid, route.scope);
    const item = el("li", { className: "hv-row", dataset: { testid: "history-view-row", lot: bid.lot, seq: String(bid.seq) } });
    if (bid.voided) item.classList.add("voided");
    if (bid.auto) item.classList.add("auto");
    if (who === "you") item.classList.add("mine");
    const amount = el("span", { className: "hv-amount" }, formatMoney(bid.amount, bid.currency));
    const lot = route.scope === "lot"
      ? el("span", { className: "hv-lot" }, `#${bid.seq}`)
      : el("a", { className: "hv-lot", href: `#lot/${encodeURIComponent(bid.lot)}`, title: `Lot ${bid.lot}` }, bid.title);
    const whoNode = el("span", { className: "hv-who" }, route.scope === "mine" ? "" : `by ${who}`);
    const badges = el("span", { className: "hv-notes" },
      ...notes.map((n) => el("span", { className: `hv-note${n === "voided" ? " hv-void" : ""}` }, n)));
    const time = el("time", { className: "hv-when", dateTime: new Date(bid.ts).toISOString() }, when(bid.ts));
    item.append(amount, el("span", { className: "hv-what" }, lot, whoNode, badges), time);
    return item;
  }
}

export function startHistory(currentLot = () => null, aliases = null) {
  const view = new HistoryView(currentLot);
  view.aliases = aliases; // app.js's: your pseudonym in each anonymous sale
  return view;
}
