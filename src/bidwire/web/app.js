// The bidwire web client: one page, the WebSocket for everything live, the HTTP API for the
// catalogue and older bids. Plain ES modules, no build step.
//
// The server decides everything: prices, minimums, deadlines, winners. The page only shows
// what it was told, draws the countdown from the server's `ends_at` corrected by the clock
// offset, and after any reconnect asks for what it missed by seq, so it is never left showing
// a stale price.

import { drawChart } from "./chart.js";
import { Connection } from "./conn.js";
import {
  currencySymbol,
  formatMoney,
  formatRound,
  inputValue,
  parseAmount,
} from "./money.js";
import { AuctionState } from "./state.js";
import { Aliases, endedWords, isYou, renamedWords } from "./you.js";

const NAME_KEY = "bidwire.name";
const THEME_KEY = "bidwire.theme";
const GUEST_KEY = "bidwire.guest"; // {name, token}: this browser's guest session, for a reload
const NAME_RE = /^[\p{L}\p{N}_][\p{L}\p{N}_ .\-]{0,31}$/u;
const HISTORY_PAGE = 50;
const TOAST_MS = 6000;

const $ = (id) => document.getElementById(id);
const narrow = window.matchMedia("(max-width: 640px)");
const ui = {
  saleTitle: $("sale-title"),
  conn: $("conn"),
  connText: $("conn-text"),
  me: $("me"),
  meName: $("me-name"),
  meAvatar: $("me-avatar"),
  lotEmpty: $("lot-empty"),
  lotBody: $("lot-body"),
  position: $("lot-position"),
  lotState: $("lot-state"),
  title: $("lot-title"),
  description: $("lot-description"),
  follow: $("follow"),
  priceLabel: $("price-label"),
  price: $("price"),
  leader: $("leader"),
  min: $("min"),
  bidCount: $("bid-count"),
  countdown: $("countdown"),
  clockFill: $("clockbar-fill"),
  clockLabel: $("clock-label"),
  standing: $("standing"),
  form: $("bid-form"),
  amount: $("bid-amount"),
  prefix: $("amount-prefix"),
  maxAmount: $("max-amount"),
  maxPrefix: $("max-prefix"),
  maxHint: $("max-hint"),
  reserve: $("reserve"),
  buyBox: $("buy-now-box"),
  buyNow: $("buy-now"),
  bidCurrency: $("bid-currency"),
  bidButton: $("bid-button"),
  quick: $("quick"),
  feedback: $("bid-feedback"),
  chart: $("chart"),
  history: $("history"),
  more: $("history-more"),
  saleLists: $("sale-lists"),
  toasts: $("toasts"),
  dialog: $("name-dialog"),
  nameForm: $("name-form"),
  nameInput: $("name-input"),
  meRole: $("me-role"),
  logout: $("logout"),
  adminLink: $("admin-link"),
  accountError: $("account-error"),
  loginForm: $("login-form"),
  registerForm: $("register-form"),
  rule: $("lot-rule"),
  notice: $("notice"),
  theme: $("theme-toggle"),
};

const state = new AuctionState();
const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
const conn = new Connection(wsUrl);
const pending = new Map(); // bid request id -> {lot, amount, max}; buy-now id -> {lot, buy}
const resyncing = new Set(); // lots with a resync in flight
let viewing = null; // a lot the user picked; null follows the lot on the block
let shownLot = null; // the lot on screen at the last render
let amountDirty = false;
let countdownFor = { lot: null, endsAt: null, windowStart: 0, windowTotal: 1 };
let account = null; // {user, role} while logged in (the token itself is in an HttpOnly cookie)
let serverInfo = { guests: true, accounts: true };
const aliases = new Aliases(); // your pseudonym in each anonymous sale, for you alone
const cancelledSales = new Set(); // sales that ended with reason "cancelled" while we watched
let followedMin = null; // {lot, min}: the minimum the bid box was last set to
let endedFor = ""; // why the server ended this connection for good (blocked, logged out)

function me() {
  return conn.user || conn.name;
}

/** Whether `bidder`, as shown on `lot`, is you: your name, or your pseudonym in its sale. */
function mine(lot, bidder) {
  return isYou(bidder, me(), aliases, lot?.sale);
}

/** A bid or a maximum above this (minor units) is asked about first; null: no house limit. */
function confirmAbove() {
  const limit = serverInfo.confirm_above;
  return typeof limit === "number" && limit > 0 ? limit : null;
}

// -- small helpers -------------------------------------------------------------------------------

function clockTime(ts) {
  return new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function formatLeft(ms) {
  if (ms <= 0) return "0:00";
  const tenths = Math.ceil(ms / 100);
  if (tenths < 100) return `0:0${(tenths / 10).toFixed(1)}`; // the last seconds, finer
  const total = Math.ceil(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

function toast(text, kind = "info", tag = "") {
  if (tag) for (const old of ui.toasts.querySelectorAll(`[data-tag="${CSS.escape(tag)}"]`)) old.remove();
  const node = document.createElement("div");
  node.dataset.tag = tag;
  node.className = `toast toast-${kind}`;
  node.textContent = text;
  node.dataset.testid = "toast";
  ui.toasts.append(node);
  // On a phone one at a time, so there is always room for it beside the bid form.
  while (ui.toasts.children.length > (narrow.matches ? 1 : 4)) ui.toasts.firstElementChild.remove();
  setTimeout(() => node.classList.add("leaving"), TOAST_MS - 400);
  setTimeout(() => node.remove(), TOAST_MS);
}

/** Why a closed lot closed: its lot_closed's reason, or worked out from what a snapshot says. */
function closeReason(lot) {
  if (lot.reason) return lot.reason;
  if (lot.outcome === "sold") return "hammer";
  if (!lot.high_bid) return "no_bids";
  if (lot.reserve && !lot.reserve_met) return "reserve_not_met";
  return "withdrawn";
}

/** Why a lot closed, in the words every client uses. */
function closedWords(lot, name) {
  const amount = formatMoney(lot.closed_amount ?? lot.high_bid?.amount, lot.currency);
  const reason = closeReason(lot);
  const mine = isYou(lot.winner, name, aliases, lot.sale);
  switch (reason) {
    case "hammer":
      return mine ? [`You won it for ${amount}`, "won"] : [`Sold to ${lot.winner} for ${amount}`, "sold"];
    case "buy_now":
      return mine ? [`You bought it now for ${amount}`, "won"] : [`Bought now by ${lot.winner} for ${amount}`, "sold"];
    case "reserve_not_met":
      return ["Not sold: the reserve was not met", "unsold"];
    case "no_bids":
      return ["Not sold: no bids", "unsold"];
    case "withdrawn":
      return cancelledSales.has(lot.sale)
        ? ["The sale was cancelled: withdrawn by the auctioneer", "unsold"]
        : ["Withdrawn by the auctioneer", "unsold"];
    default:
      return [lot.outcome === "sold" ? `Sold to ${lot.winner} for ${amount}` : "Not sold", lot.outcome ?? "unsold"];
  }
}

/** The viewer's own maximum on `lot`, while it is above the price it stands at. */
function leadingMax(lot, name) {
  const high = lot.high_bid;
  return high && isYou(high.bidder, name, aliases, lot.sale) && lot.my_max !== null && lot.my_max > high.amount ? lot.my_max : null;
}

function setFeedback(text, kind) {
  ui.feedback.textContent = text;
  ui.feedback.dataset.kind = kind;
}

function participated(lot) {
  const name = me();
  if (!name) return false;
  for (const bid of lot.bids.values()) if (mine(lot, bid.bidder) && !bid.voided) return true;
  return false;
}

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  setTimeout(() => {
    renderQueued = false;
    render();
  }, 0);
}

// -- talking to the server -----------------------------------------------------------------------

async function fetchJson(path) {
  const response = await fetch(path, { headers: { accept: "application/json" } });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  const body = await response.json();
  conn.clock.observe(body.ts);
  return body;
}

async function loadSales() {
  try {
    state.applySales(await fetchJson("/api/sales"));
    scheduleRender();
  } catch {
    // Offline or restarting: the next welcome loads it again.
  }
}

async function loadHistory(lotId, older = false) {
  const lot = state.lot(lotId);
  const before = older && typeof lot.historyBefore === "number" ? `&before_seq=${lot.historyBefore}` : "";
  try {
    state.applyHistory(
      await fetchJson(`/api/lots/${encodeURIComponent(lotId)}/bids?limit=${HISTORY_PAGE}${before}`),
    );
    scheduleRender();
  } catch {
    lot.historyBefore = undefined; // try again on the next render
  }
}

function resync(lotId, sinceSeq) {
  if (resyncing.has(lotId)) return;
  if (conn.send({ type: "resync", lot: lotId, since_seq: Math.max(0, sinceSeq) })) {
    resyncing.add(lotId);
  }
}

let wasOnline = false;
let welcomedAs = null;

let toldRenamed = "";

function onWelcome(msg) {
  if (welcomedAs !== conn.user) {
    // Someone else now: the maximums and pseudonyms we knew were the last person's.
    for (const lot of state.lots.values()) lot.my_max = null;
    aliases.clear();
    welcomedAs = conn.user;
  }
  endedFor = "";
  if (msg.confirm_above !== undefined) serverInfo.confirm_above = msg.confirm_above;
  rememberGuest(msg);
  // A guest name another guest holds: the server gave us another one. Say so, once.
  const renamed = msg.role === "guest" ? renamedWords(conn.name, msg.user) : "";
  if (renamed && toldRenamed !== msg.user) {
    toldRenamed = msg.user;
    showNotice(renamed, "warn"); // it stays: the name next to every bid is not the one asked
  } else if (!renamed && ui.notice.dataset.kind === "warn") showNotice("", "");
  resyncing.clear();
  if (wasOnline) toast("Back online; everything is up to date.", "info", "conn");
  wasOnline = true;
  // The server sends a snapshot of every open lot after the welcome; ask for what we missed of
  // every other lot we know that could still have changed (it may have closed meanwhile).
  for (const lot of state.lots.values()) {
    if (lot.state !== "closed" && lot.seq >= 0) resync(lot.lot, lot.seq);
  }
  for (const lot of state.lots.values()) lot.historyBefore = undefined;
  loadSales();
  setFeedback("", "");
}

/** A guest is its session (its token), not only its name: keep it for the next visit. */
function rememberGuest(msg) {
  try {
    if (msg.role !== "guest") localStorage.removeItem(GUEST_KEY);
    else if (typeof msg.guest_token === "string") {
      localStorage.setItem(GUEST_KEY, JSON.stringify({ name: msg.user, token: msg.guest_token }));
      localStorage.setItem(NAME_KEY, msg.user); // the name we bid as, bob-2 if bob was taken
    }
  } catch {
    // private mode: this visit only
  }
}

function savedGuestToken(name) {
  try {
    const saved = JSON.parse(localStorage.getItem(GUEST_KEY) || "null");
    return saved && saved.name === name && typeof saved.token === "string" ? saved.token : null;
  } catch {
    return null;
  }
}

function onMessage(msg) {
  switch (msg.type) {
    case "welcome":
      onWelcome(msg);
      break;
    case "alias":
      aliases.learn(msg.sale, msg.bidder);
      break;
    case "bid_accepted":
      onAccepted(msg);
      break;
    case "bought": {
      const request = pending.get(msg.id);
      pending.delete(msg.id);
      const lot = state.lots.get(msg.lot);
      if (request && lot) setFeedback(`You bought ${lot.title} for ${formatMoney(msg.amount, lot.currency)}.`, "ok");
      break;
    }
    case "bid_rejected":
      onRejected(msg);
      break;
    case "error":
      if (endedWords(msg)) onEnded(msg);
      else if (msg.code === "unknown_lot") loadSales(); // a lot we knew is gone: reload the catalogue
      else if (msg.id && String(msg.id).startsWith("h")) {
        setFeedback(`The server refused the name: ${msg.message}`, "error");
        askName(true, `The server refused the name: ${msg.message}`);
      } else if (msg.code === "not_authenticated" && (msg.id === null || msg.id === undefined)) {
        // Our login cookie was refused (expired, logged out elsewhere, blocked), or we took
        // too long to say who we are: stop, and ask.
        account = null;
        conn.stop();
        askName(true, msg.message, "login");
      }
      break;
    case "server_closing":
      toast("The server is restarting; the page reconnects by itself.", "info", "conn");
      break;
    default:
      if (msg.type === "sale_ended" && msg.reason === "cancelled") {
        cancelledSales.add(msg.sale);
        const sale = state.sales.get(msg.sale);
        const title = sale?.title;
        // One word for it all: not a "withdrawn" for each of its lots, then this.
        for (const id of sale?.lots ?? []) {
          for (const old of ui.toasts.querySelectorAll(`[data-tag="closed-${CSS.escape(id)}"]`)) old.remove();
        }
        toast(`The sale was cancelled by the auctioneer${title ? `: ${title}` : ""}. Its lots are withdrawn.`, "warn", `sale-${msg.sale}`);
      }
      onLotMessage(msg);
  }
  scheduleRender();
}

/** The server ended this connection for good (blocked, logged out): say why, do not retry. */
function onEnded(msg) {
  endedFor = endedWords(msg);
  conn.end(msg); // hang up and stay down: a retry would only be refused again
  pending.clear();
  for (const old of ui.toasts.querySelectorAll('[data-tag="conn"]')) old.remove(); // "back online"
  showNotice(endedFor, "error");
  setFeedback(endedFor, "error");
  if (msg.reason === "logged_out") {
    account = null;
    askName(true, endedFor, "login");
  }
}

function showNotice(text, kind) {
  ui.notice.textContent = text;
  ui.notice.dataset.kind = kind;
  ui.notice.hidden = !text;
}

function onAccepted(msg) {
  const request = pending.get(msg.id);
  pending.delete(msg.id);
  if (!request) return;
  const lot = state.lot(msg.lot);
  // How the public sees this bid's bidder: in an anonymous sale, our pseudonym there.
  if (typeof msg.bidder === "string" && msg.bidder !== me()) aliases.learn(lot.sale, msg.bidder);
  const money = (minor) => formatMoney(minor, lot.currency);
  // The maximum is ours alone: it is only ever in our own replies and our own snapshot.
  const max = typeof msg.max_amount === "number" ? msg.max_amount : request.max;
  lot.my_max = request.max !== null && typeof max === "number" ? max : null;
  lot.my_max_seq = msg.seq;
  amountDirty = false;
  ui.maxAmount.value = "";
  if (msg.leading === false) {
    setFeedback(
      `Your bid of ${money(msg.amount)} was placed, but another bidder's maximum is higher, so they still lead.`,
      "warn",
    );
  } else if (lot.my_max !== null && lot.my_max > msg.amount) {
    setFeedback(`Accepted: your maximum of ${money(lot.my_max)} is leading at ${money(msg.amount)}.`, "ok");
  } else {
    setFeedback(`Bid accepted: ${money(msg.amount)}. You are leading.`, "ok");
  }
}

function onRejected(msg) {
  const request = pending.get(msg.id);
  if (request?.buy) {
    pending.delete(msg.id);
    const why = {
      not_offered: "Buy now is no longer offered: a bid came first.",
      lot_not_open: msg.message,
      unavailable: "The server could not record it; nothing was bought. Try again.",
      not_authenticated: "Still joining the sale; try again in a moment.",
      rate_limited: "Too many requests at once; slow down a little.",
    }[msg.code] ?? msg.message;
    setFeedback(`Not bought: ${why}`, "error");
    return;
  }
  pending.delete(msg.id);
  const lot = msg.lot ? state.lots.get(msg.lot) : null;
  const currency = lot?.currency ?? "USD";
  const why = {
    too_low: msg.min_amount
      ? `Too low: the least you can bid now is ${formatMoney(msg.min_amount, currency)}.`
      : "Too low.",
    already_leading: msg.message && /maximum/i.test(msg.message)
      ? msg.message
      : "You already hold the high bid; to bid more, raise your maximum.",
    lot_not_open: msg.message,
    bad_amount: "That amount is not valid.",
    unavailable: "The server could not record the bid; it was not placed. Try again.",
    not_authenticated: "Still joining the sale; try again in a moment.",
    rate_limited: "Too many bids at once; slow down a little.",
  }[msg.code] ?? msg.message;
  setFeedback(`Refused: ${why}`, "error");
  if (msg.min_amount && lot) {
    // Offer the least that would have been taken: the box follows the minimum from here.
    ui.amount.value = inputValue(msg.min_amount, currency);
    amountDirty = false;
    followedMin = { lot: lot.lot, min: msg.min_amount, open: lot.state === "open" };
  }
}

function onLotMessage(msg) {
  const before = msg.lot ? state.lots.get(msg.lot) : null;
  const wasLeading = before !== null && before !== undefined && mine(before, before.high_bid?.bidder) &&
    before.state === "open";
  const voidedBids =
    msg.type === "bid_voided" && before
      ? state.bidsOf(before).filter((b) => msg.voided.includes(b.seq))
      : [];
  const result = state.apply(msg);
  if (!result) return;
  if (result.unknownLots) loadSales();
  if (!result.lot) return;
  if (result.gap !== undefined) {
    resync(result.lot, result.gap);
    return;
  }
  if (!result.stale) resyncing.delete(result.lot);
  const ev = result.event;
  if (!ev) return;
  const lot = state.lot(result.lot);
  if (ev.type === "lot_closed" && viewing === null && result.lot === shownLot) {
    // In a timed sale other lots are still open: keep this one's result in view, not jump
    // away from it (the "back to the lot on the block" link follows the sale again).
    const next = state.onTheBlock();
    if (next && next.lot !== result.lot) viewing = result.lot;
  }
  const name = me();
  if (ev.type === "bid_placed" && !mine(lot, ev.bidder) && result.lot === shownLot) {
    // "Bid accepted" is no longer the news once someone else has bid.
    if (ui.feedback.dataset.kind === "ok") setFeedback("", "");
  }
  // A rival's bid our maximum covers is answered at once by the house: not an outbid.
  const covered = lot.my_max !== null && ev.amount <= lot.my_max;
  // The house's answer to our own bid, in the same commit: the bid's reply already says so.
  const answer = ev.type === "bid_placed" && ev.auto &&
    [...lot.bids.values()].some((b) => b.seq === ev.seq - 1 && mine(lot, b.bidder) && b.ts === ev.ts);
  if (ev.type === "bid_placed" && wasLeading && !mine(lot, ev.bidder) && !covered && !answer) {
    const how = lot.my_max !== null ? ` your maximum of ${formatMoney(lot.my_max, lot.currency)} was beaten` : ` ${ev.bidder} bid ${formatMoney(ev.amount, lot.currency)}`;
    toast(`You have been outbid on ${lot.title}:${how}.`, "warn");
  } else if (ev.type === "bid_voided") {
    if (result.lot === shownLot) setFeedback("", ""); // what it said of our bid may be undone
    const ours = voidedBids.some((b) => mine(lot, b.bidder) && !b.auto);
    const what = voidedBids.length
      ? voidedBids.filter((b) => !b.auto).map((b) => `${formatMoney(b.amount, lot.currency)} by ${mine(lot, b.bidder) ? "you" : b.bidder}`).join(", ")
      : `${ev.voided.length} bid${ev.voided.length === 1 ? "" : "s"}`;
    const now = ev.amount === null ? "no bid stands now" : `the high bid is ${formatMoney(ev.amount, lot.currency)} by ${mine(lot, ev.bidder) ? "you" : ev.bidder}`;
    if (ours && lot.my_max_seq !== undefined && ev.voided.includes(lot.my_max_seq)) lot.my_max = null;
    toast(`The auctioneer voided ${ours ? "your bid" : "a bid"} on ${lot.title} (${what}); ${now}.`, ours ? "warn" : "info");
  } else if (ev.type === "lot_closed") {
    const [words, kind] = closedWords(lot, name);
    toast(`${lot.title} — ${words}${kind === "won" ? "!" : "."}`, kind === "won" ? "win" : "info", `closed-${lot.lot}`);
  } else if (ev.type === "lot_opened" && viewing === null) {
    toast(`Now on the block: ${lot.title}.`, "info");
  } else if (ev.type === "lot_paused") {
    toast(`${lot.title}: bidding is paused by the auctioneer, with ${formatLeft(lot.remaining_ms ?? 0)} left on the clock.`, "warn", `pause-${lot.lot}`);
  } else if (ev.type === "lot_resumed") {
    toast(`${lot.title}: bidding is open again.`, "info", `pause-${lot.lot}`);
  }
}

const CONFIRM_OVER = 3; // as the terminal client's CONFIRM_OVER

function placeBid(event) {
  event.preventDefault();
  const lot = currentLot();
  if (!lot || lot.state !== "open") {
    setFeedback("This lot is not open for bidding.", "error");
    return;
  }
  let amount = null;
  let max = null;
  const withMax = ui.maxAmount.value.trim() !== "";
  try {
    if (withMax) max = parseAmount(ui.maxAmount.value, lot.currency);
  } catch (err) {
    setFeedback(`Maximum: ${err.message}`, "error");
    ui.maxAmount.focus();
    return;
  }
  // With a maximum, the prefilled minimum is only a suggestion: the house prices the bid.
  if (!withMax || (amountDirty && ui.amount.value.trim() !== "")) {
    try {
      amount = parseAmount(ui.amount.value, lot.currency);
    } catch (err) {
      setFeedback(err.message, "error");
      ui.amount.focus();
      return;
    }
  }
  if (amount !== null && max !== null && max < amount) {
    setFeedback("Your maximum must be at least your bid.", "error");
    ui.maxAmount.focus();
    return;
  }
  // A bid far above the minimum is asked about first, in words: a typo (25000 for 250)
  // would cost its bidder dearly, and a bid stands once placed.
  // So is any bid or maximum above the house's limit (confirm_above), if it sets one.
  const least = lot.min_amount;
  const reasons = [];
  if (amount !== null && max === null && least > 0 && amount > CONFIRM_OVER * least) {
    const times = amount / least;
    const shown = times >= 10 ? Math.round(times).toLocaleString("en-US") : times.toFixed(1);
    reasons.push(`That is ${shown} times the minimum (${formatMoney(least, lot.currency)}).`);
  }
  const limit = confirmAbove();
  const highest = Math.max(amount ?? 0, max ?? 0);
  if (limit !== null && highest > limit) {
    reasons.push(`That is above ${formatMoney(limit, lot.currency)}, the amount this house asks you to confirm.`);
  }
  if (reasons.length) {
    const what = max !== null
      ? `Leave a maximum of ${formatMoney(max, lot.currency)}${amount !== null ? ` (bidding ${formatMoney(amount, lot.currency)} now)` : ""} on ${lot.title}?`
      : `Bid ${formatMoney(amount, lot.currency)} on ${lot.title}?`;
    if (!window.confirm(`${what} ${reasons.join(" ")}`)) {
      setFeedback("Not placed.", "warn");
      return;
    }
  }
  const id = conn.newId("b");
  const message = { type: "bid", id, lot: lot.lot };
  if (amount !== null) message.amount = amount;
  if (max !== null) message.max_amount = max;
  if (!conn.send(message)) {
    setFeedback("Not connected: your bid was not sent. The page is reconnecting.", "error");
    return;
  }
  pending.set(id, { lot: lot.lot, amount, max });
  amountDirty = false; // the edit is sent: the box follows the minimum again
  setFeedback(
    max !== null ? `Leaving a maximum of ${formatMoney(max, lot.currency)}…` : `Bidding ${formatMoney(amount, lot.currency)}…`,
    "pending",
  );
}

function buyNow() {
  const lot = currentLot();
  if (!lot || lot.state !== "open" || lot.buy_now === null) return;
  const price = formatMoney(lot.buy_now, lot.currency);
  if (!window.confirm(`Buy ${lot.title} now for ${price}? The auction ends at once and you pay that price.`)) return;
  const id = conn.newId("n");
  if (!conn.send({ type: "buy_now", id, lot: lot.lot })) {
    setFeedback("Not connected: nothing was bought. The page is reconnecting.", "error");
    return;
  }
  pending.set(id, { lot: lot.lot, buy: true });
  setFeedback(`Buying ${lot.title} for ${price}…`, "pending");
}

// -- what to show --------------------------------------------------------------------------------

function currentLot() {
  if (viewing && state.lots.has(viewing)) return state.lots.get(viewing);
  const onBlock = state.onTheBlock();
  if (onBlock) return onBlock;
  // Between two lots of a running sale: the one this page saw close, so its result stays in
  // view until the next opens. Once its sale has ended, or with no sale running, no lot is
  // current: the panel says so and names the next sale (renderIdle), rather than showing an
  // old lot as if it were on the block.
  let last = null;
  for (const lot of state.lots.values()) {
    if (lot.state !== "closed" || lot.closed_at === null || !isRunning(saleOf(lot))) continue;
    if (!last || lot.closed_at > last.closed_at) last = lot;
  }
  return last;
}

function saleOf(lot) {
  return lot ? state.sales.get(lot.sale) ?? null : null;
}

function render() {
  const name = me();
  const shownName = name || account?.user; // still the account's, when the server ended us
  ui.meName.textContent = shownName || "Guest";
  ui.meAvatar.textContent = (shownName || "?").slice(0, 1).toUpperCase();
  const role = conn.role || account?.role || "";
  ui.meRole.textContent = role;
  ui.logout.hidden = !account;
  ui.adminLink.hidden = role !== "admin";
  const lot = currentLot();
  const sale = saleOf(lot);
  ui.saleTitle.textContent = sale ? sale.title : "";
  renderSale();
  if (!lot) {
    ui.lotEmpty.hidden = false;
    ui.lotBody.hidden = true;
    document.title = "bidwire · live auction";
    return;
  }
  ui.lotEmpty.hidden = true;
  ui.lotBody.hidden = false;
  if (shownLot !== lot.lot) {
    shownLot = lot.lot;
    amountDirty = false;
    ui.maxAmount.value = "";
    setFeedback("", "");
  }
  if (lot.historyBefore === undefined && lot.bid_count > 0) {
    lot.historyBefore = null; // one fetch at a time
    loadHistory(lot.lot);
  }

  const sale2 = saleOf(lot);
  const index = sale2 ? sale2.lots.indexOf(lot.lot) : -1;
  ui.position.textContent = index >= 0 ? `Lot ${index + 1} of ${sale2.lots.length}` : "";
  const [badge, badgeKind] = badgeOf(lot);
  ui.lotState.textContent = badge;
  ui.lotState.dataset.kind = badgeKind;
  // Whether there is a reserve and whether it is met; never its amount.
  ui.reserve.hidden = !lot.reserve || lot.state === "closed";
  ui.reserve.textContent = lot.reserve_met ? "Reserve met" : "Reserve not met";
  ui.reserve.dataset.met = String(Boolean(lot.reserve_met));
  ui.lotState.dataset.state = lot.state;
  ui.title.textContent = lot.title;
  ui.description.textContent = lot.description;
  ui.follow.hidden = viewing === null || !state.onTheBlock() || state.onTheBlock().lot === lot.lot;
  renderLotPastLinks(lot);

  const high = lot.high_bid;
  ui.price.dataset.amount = high ? high.amount : "";
  if (lot.state === "closed") {
    ui.priceLabel.textContent =
      lot.outcome === "sold" ? (lot.reason === "buy_now" ? "Bought now for" : "Sold for") : high ? "Highest bid" : "Opening price";
  } else {
    ui.priceLabel.textContent = high ? "Current bid" : "Opening price";
  }
  ui.price.textContent = formatMoney(high ? high.amount : lot.starting_price, lot.currency);
  ui.leader.textContent = high ? (isYou(high.bidder, name, aliases, lot.sale) ? "by you" : `by ${high.bidder}`) : "no bids yet";
  ui.min.textContent = lot.state === "closed" ? "—" : formatMoney(lot.min_amount, lot.currency);
  ui.min.dataset.amount = lot.min_amount;
  ui.bidCount.textContent = `${lot.bid_count} bid${lot.bid_count === 1 ? "" : "s"}`;
  document.title = `${formatMoney(high ? high.amount : lot.starting_price, lot.currency)} · ${lot.title} · bidwire`;

  renderRule(lot);
  renderStanding(lot, name);
  renderForm(lot);
  renderHistory(lot, name);
  renderChart(lot, name);
  tick();
}

/** The lot's badge: what state it is in, in one word a bidder reads at a glance. */
function badgeOf(lot) {
  if (lot.state === "open") return [saleOf(lot)?.mode === "timed" ? "Open" : "Live", "live"];
  if (lot.state === "paused") return ["Paused", "paused"];
  if (lot.state === "scheduled") return ["Coming up", "scheduled"];
  if (lot.state !== "closed") return [lot.state, ""];
  if (lot.outcome === "sold") return ["Sold", "sold"];
  if (closeReason(lot) === "withdrawn") {
    return cancelledSales.has(lot.sale) ? ["Cancelled", "withdrawn"] : ["Withdrawn", "withdrawn"];
  }
  return ["Not sold", "unsold"];
}

function seconds(ms) {
  const s = Math.round(ms / 1000);
  if (s < 120 || s % 60) return `${s} s`;
  return s % 3600 || s < 7200 ? `${s / 60} min` : `${s / 3600} h`;
}

/** How this lot ends, in words, from its own bid window and its sale's mode. */
function renderRule(lot) {
  const windowMs = typeof lot.extend_ms === "number" ? lot.extend_ms : null;
  const mode = saleOf(lot)?.mode;
  let text = "";
  if (lot.state !== "closed" && windowMs !== null && mode) {
    const w = seconds(windowMs);
    text = mode === "timed"
      ? `Timed sale: this lot closes at its own time. A bid in the last ${w} moves the close to ${w} after it, so nobody is sniped.`
      : `Each bid resets the clock to ${w}; the lot sells when nobody bids for ${w}.`;
  }
  ui.rule.textContent = text;
  ui.rule.hidden = !text;
}

function renderStanding(lot, name) {
  let text = "";
  let kind = "";
  const high = lot.high_bid;
  if (lot.state === "open" || lot.state === "paused") {
    const max = leadingMax(lot, name);
    if (max !== null) {
      const at = formatMoney(high.amount, lot.currency);
      [text, kind] = [`Your maximum of ${formatMoney(max, lot.currency)} is leading at ${at}`, "lead"];
    } else if (high && isYou(high.bidder, name, aliases, lot.sale)) [text, kind] = ["You are leading", "lead"];
    else if (participated(lot)) {
      text = lot.my_max !== null
        ? `You have been outbid: your maximum was ${formatMoney(lot.my_max, lot.currency)}`
        : `You have been outbid${high ? ` by ${high.bidder}` : ""}`;
      kind = "outbid";
    }
    if (lot.state === "paused") [text, kind] = [`Paused by the auctioneer: no bids until bidding resumes${text ? `. ${text}` : ""}`, "paused"];
  } else if (lot.state === "closed") {
    [text, kind] = closedWords(lot, name);
  } else {
    [text, kind] = ["Opens when the lots before it are done", "scheduled"];
  }
  ui.standing.hidden = !text;
  ui.standing.textContent = text;
  ui.standing.dataset.kind = kind;
}

/** Why no bid can be placed on `lot` now, in words; "" when one can. */
function whyNoBid(lot) {
  if (endedFor) return "Not connected"; // the notice above the lot says why
  if (lot.state === "paused") return "Paused by the auctioneer";
  if (lot.state === "scheduled") return "Not open yet";
  if (lot.state === "closed") {
    return closeReason(lot) === "withdrawn"
      ? cancelledSales.has(lot.sale) ? "The sale was cancelled" : "Withdrawn by the auctioneer"
      : "Bidding closed";
  }
  if (lot.state !== "open") return "Bidding closed";
  if (conn.state !== "live") return conn.state === "ended" ? "Not connected" : "Reconnecting…";
  return "";
}

/**
 * The bid box follows the minimum (outbid, a void, a new lot) unless the person is typing in it:
 * an edit not yet sent, while the box has the focus or its amount still reaches the minimum.
 */
function followMinimum(lot, open) {
  const moved = !followedMin || followedMin.lot !== lot.lot || followedMin.min !== lot.min_amount ||
    followedMin.open !== open;
  if (!moved) return;
  if (followedMin && followedMin.lot === lot.lot && amountDirty) {
    if (document.activeElement === ui.amount) return; // typing: never under their fingers
    let typed = null;
    try {
      typed = parseAmount(ui.amount.value, lot.currency);
    } catch {
      // not an amount: replace it
    }
    if (typed !== null && typed >= lot.min_amount) return; // still a bid that can win
  }
  // While paused the box keeps showing the minimum (greyed): what a bid would be on resume.
  ui.amount.value = open || lot.state === "paused" ? inputValue(lot.min_amount, lot.currency) : "";
  amountDirty = false;
  followedMin = { lot: lot.lot, min: lot.min_amount, open };
}

const MAX_HINT = "With a maximum, the house bids for you: only as much as it takes to keep you ahead, never above it. Only you see it.";

/** Under the bid box: what a maximum does, or, to a leader, that a maximum is the way higher
 *  (a plain bid of theirs is refused: it would only bid against themselves). */
function maxHintWords(lot) {
  const high = lot.high_bid;
  if (!high || !isYou(high.bidder, me(), aliases, lot.sale)) return MAX_HINT;
  if (leadingMax(lot, me()) !== null) {
    return "You lead with a maximum. To go higher, leave a higher maximum; a plain bid would only bid against yourself.";
  }
  return "You lead: a plain bid now would only bid against yourself. To go higher only if someone outbids you, leave a maximum: the house bids for you, never above it. Only you see it.";
}

function renderForm(lot) {
  const why = whyNoBid(lot);
  const open = lot.state === "open";
  const can = !why;
  // A moment's reconnect leaves the boxes (and what is being typed in them) alone.
  const editable = open && !endedFor;
  ui.form.dataset.closed = String(!can);
  ui.amount.disabled = !editable;
  ui.maxAmount.disabled = !editable;
  ui.maxHint.hidden = !open;
  ui.maxHint.textContent = maxHintWords(lot);
  ui.maxPrefix.textContent = currencySymbol(lot.currency);
  ui.bidButton.disabled = !can;
  const offered = open && lot.buy_now !== null && lot.buy_now !== undefined;
  ui.buyBox.hidden = !offered;
  if (offered) {
    ui.buyNow.textContent = `Buy now for ${formatMoney(lot.buy_now, lot.currency)}`;
    ui.buyNow.dataset.amount = lot.buy_now;
    ui.buyNow.disabled = !can;
  }
  ui.bidButton.textContent = can ? "Place bid" : why;
  ui.prefix.textContent = currencySymbol(lot.currency);
  ui.bidCurrency.textContent = `(${lot.currency})`;
  followMinimum(lot, open);
  // Quick raises: the minimum, then one, two and five more increments.
  const step = lot.high_bid ? Math.max(1, lot.min_amount - lot.high_bid.amount) : 0;
  const amounts = editable
    ? [...new Set([0, 1, 2, 5].map((n) => lot.min_amount + n * (step || Math.max(1, Math.round(lot.min_amount * 0.05)))))]
    : [];
  const key = amounts.join(",");
  if (ui.quick.dataset.key !== key) {
    ui.quick.dataset.key = key;
    ui.quick.replaceChildren(
      ...amounts.map((amount, i) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "chip";
        button.textContent = i === 0 ? `Min ${formatMoney(amount, lot.currency)}` : formatMoney(amount, lot.currency);
        button.setAttribute("aria-label", `Fill in ${formatMoney(amount, lot.currency)}`);
        button.addEventListener("click", () => {
          ui.amount.value = inputValue(amount, lot.currency);
          amountDirty = true;
          ui.bidButton.focus();
        });
        return button;
      }),
    );
  }
}

function renderHistory(lot, name) {
  const bids = state.bidsOf(lot);
  let topShown = false;
  ui.history.replaceChildren(
    ...bids.slice(0, 200).map((bid) => {
      const item = document.createElement("li");
      const ours = isYou(bid.bidder, name, aliases, lot.sale);
      if (ours) item.classList.add("mine");
      if (bid.voided) item.classList.add("voided");
      else if (!topShown) {
        item.classList.add("top");
        topShown = true;
      }
      const amount = document.createElement("span");
      amount.className = "h-amount";
      amount.textContent = formatMoney(bid.amount, lot.currency);
      const who = document.createElement("span");
      who.className = "h-who";
      const whoName = document.createElement("span");
      whoName.className = "h-name";
      whoName.textContent = ours ? `${bid.bidder} (you)` : bid.bidder;
      who.append(whoName);
      if (bid.auto || bid.voided) {
        const tag = document.createElement("span");
        tag.className = `h-tag ${bid.voided ? "h-voided" : "h-auto"}`;
        tag.textContent = bid.voided ? "voided" : "automatic";
        tag.title = bid.voided ? "Voided by the auctioneer: this bid no longer stands" : "Placed by the house for this bidder's maximum";
        who.append(tag);
      }
      const when = document.createElement("time");
      when.className = "h-when";
      when.dateTime = new Date(bid.ts).toISOString();
      when.textContent = clockTime(bid.ts);
      item.append(amount, who, when);
      return item;
    }),
  );
  if (!bids.length) {
    const empty = document.createElement("li");
    empty.className = "empty";
    empty.textContent = lot.state === "open" ? "No bids yet. Be the first." : "No bids.";
    ui.history.append(empty);
  }
  ui.more.hidden = typeof lot.historyBefore !== "number";
}

function renderChart(lot, name) {
  const bids = state.bidsOf(lot).filter((b) => !b.voided).reverse();
  const now = conn.clock.now();
  drawChart(ui.chart, {
    bids,
    currency: lot.currency,
    startingPrice: lot.starting_price,
    from: lot.opened_at ?? (bids.length ? bids[0].ts : now - 60_000),
    to: lot.state === "closed" ? lot.closed_at ?? (bids.length ? bids[bids.length - 1].ts : now) : now,
    me: aliases.of(lot.sale) ?? name, // in an anonymous sale your bids show under your pseudonym
    closed: lot.state === "closed",
  });
}

// -- the sales, and a lot's page ---------------------------------------------------------------
//
// The aside lists the sales by where they stand: running now (each named, with its lots), upcoming
// (when each starts, and its lots: the catalogue) and past (collapsed, named, each lot's result).
// A lot's page is the lot panel at #lot/<id>: a link anyone can open, with the lot's sale,
// description, estimate, bid history and result. With no lot current, the panel says in words
// that the sale has ended and when the next one starts (renderIdle).

const LOT_ROUTE = /^#lot\/(.+)$/;
const SALES_TICK_MS = 10_000; // how often "starts at 15:30, in 12 minutes" is redrawn
const saleDetails = new Map(); // sale id -> open or closed, as the person left its <details>

function isRunning(sale) {
  return Boolean(sale) && (sale.state === "running" || sale.state === "paused");
}

function salesIn(...states) {
  return [...state.sales.values()].filter((sale) => states.includes(sale.state));
}

/** Upcoming sales, the next first; those without a start time (held by the auctioneer) last. */
function upcomingSales() {
  const at = (sale) => (sale.state === "held" ? Infinity : sale.starts_at ?? 0);
  return salesIn("scheduled", "held").sort((a, b) => at(a) - at(b));
}

/** Past sales, the one that ended last first. */
function pastSales() {
  return salesIn("ended").reverse().sort((a, b) => (b.ended_at ?? 0) - (a.ended_at ?? 0));
}

function routedLot() {
  const found = LOT_ROUTE.exec(location.hash);
  if (!found) return null;
  try {
    return decodeURIComponent(found[1]);
  } catch {
    return null;
  }
}

function lotLink(id) {
  return `#lot/${encodeURIComponent(id)}`;
}

/** Show a lot's page (the lot on the block: follow the block again), as a link Back returns from. */
function openLot(id) {
  const onBlock = state.onTheBlock();
  viewing = onBlock && onBlock.lot === id ? null : id;
  const url = viewing === null ? location.pathname + location.search : lotLink(viewing);
  if (viewing !== routedLot()) history.pushState(null, "", url);
  render();
  // On a phone the lot panel is above the list: bring it into view.
  if (window.matchMedia("(max-width: 980px)").matches) $("lot").scrollIntoView({ block: "start" });
}

/** Keep the address in step with the panel, whoever moved it (a close, "back to the block"). */
function syncRoute() {
  if (viewing !== null && state.salesLoaded && !state.lots.has(viewing)) {
    toast(`There is no lot "${viewing}" in the catalogue.`, "warn", "route");
    viewing = null;
  }
  const routed = routedLot();
  if (viewing === routed || (viewing !== null && !state.lots.has(viewing))) return;
  history.replaceState(null, "", viewing === null ? location.pathname + location.search : lotLink(viewing));
}

window.addEventListener("hashchange", () => {
  viewing = routedLot();
  render();
});
viewing = routedLot();

/** "15:30, in 12 minutes" (with the day when it is not today). */
function whenWords(ts) {
  const now = conn.clock.now();
  const at = new Date(ts);
  const time = at.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
  const day = new Date(now).toDateString() === at.toDateString()
    ? ""
    : `${at.toLocaleDateString([], { weekday: "short", day: "numeric", month: "short" })} `;
  const left = ts - now;
  let soon;
  if (left < 60_000) soon = "any moment now";
  else if (left < 3_600_000) {
    const m = Math.round(left / 60_000);
    soon = `in ${m} minute${m === 1 ? "" : "s"}`;
  } else if (left < 48 * 3_600_000) {
    const h = Math.floor(left / 3_600_000);
    const m = Math.round((left % 3_600_000) / 60_000);
    soon = `in ${h} h${m ? ` ${m} min` : ""}`;
  } else soon = `in ${Math.round(left / 86_400_000)} days`;
  return `${day}${time}, ${soon}`;
}

/** When an upcoming sale starts, in words. */
function startWords(sale) {
  if (sale.state === "held") return "start time to be announced";
  if (sale.starts_at === null || sale.starts_at === undefined) return "starts any moment now";
  return `starts at ${whenWords(sale.starts_at)}`;
}

function saleEndedWords(sale) {
  const how = sale.reason === "cancelled" ? "cancelled" : "ended";
  if (!sale.ended_at) return how;
  const at = new Date(sale.ended_at);
  const today = new Date(conn.clock.now()).toDateString() === at.toDateString();
  const time = at.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
  return `${how} ${today ? "at" : `${at.toLocaleDateString([], { day: "numeric", month: "short" })},`} ${time}`;
}

/** "Estimate $800–$1,200" (either end may be missing), or "" without one. */
function estimateWords(lot) {
  const low = lot.estimate_low ?? null;
  const high = lot.estimate_high ?? null;
  const money = (minor) => formatRound(minor, lot.currency);
  if (low !== null && high !== null) return low === high ? `Estimate ${money(low)}` : `Estimate ${money(low)}–${money(high)}`;
  if (low !== null) return `Estimate from ${money(low)}`;
  if (high !== null) return `Estimate up to ${money(high)}`;
  return "";
}

/** A closed lot's result in a list: sold for X / bought now / not sold / withdrawn. */
function resultWords(lot, name) {
  const amount = formatMoney(lot.closed_amount ?? lot.high_bid?.amount, lot.currency);
  let reason = lot.reason;
  if (!reason) {
    // Older snapshots do not say why: as closedWords works it out.
    if (lot.outcome === "sold") reason = "hammer";
    else if (!lot.high_bid) reason = "no_bids";
    else if (lot.reserve && !lot.reserve_met) reason = "reserve_not_met";
    else reason = "withdrawn";
  }
  const yours = lot.winner !== null && isYou(lot.winner, name, aliases, lot.sale);
  switch (reason) {
    case "hammer":
      return yours ? [`won by you for ${amount}`, "won"] : [`sold for ${amount}${lot.winner ? ` to ${lot.winner}` : ""}`, "sold"];
    case "buy_now":
      return yours ? [`bought now by you for ${amount}`, "won"] : [`bought now for ${amount}`, "sold"];
    case "reserve_not_met":
      return ["not sold: reserve not met", "unsold"];
    case "no_bids":
      return ["not sold: no bids", "unsold"];
    case "withdrawn":
      return ["withdrawn", "withdrawn"];
    default:
      return [lot.outcome === "sold" ? `sold for ${amount}` : "not sold", lot.outcome ?? "unsold"];
  }
}

/** One lot in a sale's list: a button to its page, with what a bidder wants to know of it. */
function saleItem(lot, shown, name) {
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.className = `sale-item state-${lot.state}`;
  button.dataset.lot = lot.lot;
  if (shown && shown.lot === lot.lot) button.setAttribute("aria-current", "true");
  const title = document.createElement("span");
  title.className = "si-title";
  title.textContent = lot.title;
  const detail = document.createElement("span");
  detail.className = "si-detail";
  const high = lot.high_bid;
  if (lot.state === "open" || lot.state === "paused") {
    const price = high
      ? `${formatMoney(high.amount, lot.currency)} · ${isYou(high.bidder, name, aliases, lot.sale) ? "you lead" : high.bidder}`
      : `opens at ${formatMoney(lot.starting_price, lot.currency)}`;
    detail.textContent = lot.state === "paused" ? `paused · ${price}` : price;
  } else if (lot.state === "scheduled") {
    detail.textContent = `from ${formatMoney(lot.starting_price, lot.currency)}`;
  } else {
    const [words, kind] = resultWords(lot, name);
    detail.textContent = words;
    detail.dataset.result = kind;
    if (kind === "won") button.classList.add("won");
  }
  button.append(title, detail);
  const estimate = estimateWords(lot);
  if (estimate && lot.state !== "closed") {
    const est = document.createElement("span");
    est.className = "si-estimate";
    est.textContent = estimate;
    button.append(est);
  }
  button.addEventListener("click", () => openLot(lot.lot));
  li.append(button);
  return li;
}

function lotList(sale, shown, name) {
  const list = document.createElement("ul");
  for (const id of sale.lots) list.append(saleItem(state.lot(id), shown, name));
  return list;
}

function saleHeading(sale, tag) {
  const h = document.createElement(tag);
  h.className = "sale-name";
  const title = document.createElement("span");
  title.className = "sale-name-title";
  title.textContent = sale.title;
  const mode = document.createElement("span");
  mode.className = "sale-mode";
  // An ended sale is no longer "live": its badge says how it ended.
  mode.textContent =
    sale.state === "ended"
      ? sale.reason === "cancelled"
        ? "cancelled"
        : "ended"
      : sale.state === "paused"
        ? "paused"
        : sale.mode === "timed"
          ? "timed"
          : "live";
  h.append(title, " ", mode);
  return h;
}

/** A sale in a <details> that keeps the open/closed the person gave it; its lots are built only
 *  while it is open (a long past sale costs nothing folded). */
function foldedSale(sale, summaryText, openByDefault, shown, name) {
  const details = document.createElement("details");
  details.className = `sale-group sale-${sale.state}`;
  details.dataset.sale = sale.sale;
  details.dataset.testid = "sale";
  const open = saleDetails.get(sale.sale) ?? openByDefault;
  details.open = open;
  const summary = document.createElement("summary");
  const heading = saleHeading(sale, "h4");
  const when = document.createElement("span");
  when.className = "sale-when";
  when.textContent = summaryText;
  summary.append(heading, when);
  details.append(summary);
  if (open) details.append(lotList(sale, shown, name));
  if (open && sale.state === "ended") details.append(pastLinks(sale));
  details.addEventListener("toggle", () => {
    if (details.open === open) return; // the open we built it with, not a person's click
    saleDetails.set(sale.sale, details.open);
    renderSale();
    if (details.open) {
      // Opened at the foot of the list: bring its lots into view.
      ui.saleLists.querySelector(`details[data-sale="${CSS.escape(sale.sale)}"]`)?.scrollIntoView({ block: "nearest" });
    }
  });
  return details;
}

function block(testid, heading, children) {
  const section = document.createElement("section");
  section.className = "sales-block";
  section.dataset.testid = testid;
  const h = document.createElement("h3");
  h.textContent = heading;
  section.append(h, ...children);
  return section;
}

function renderSale() {
  syncRoute();
  const shown = currentLot();
  const name = me();
  const running = salesIn("running", "paused");
  const upcoming = upcomingSales();
  const past = pastSales();
  const blocks = [];
  if (running.length) {
    blocks.push(
      block(
        "running-sales",
        running.length === 1 ? "Running now" : `Running now: ${running.length} sales`,
        running.map((sale) => {
          const section = document.createElement("section");
          section.className = `sale-group sale-${sale.state}`;
          section.dataset.sale = sale.sale;
          section.dataset.testid = "sale";
          section.append(saleHeading(sale, "h4"), lotList(sale, shown, name));
          return section;
        }),
      ),
    );
  }
  if (upcoming.length) {
    blocks.push(
      block(
        "upcoming-sales",
        "Upcoming",
        upcoming.map((sale, i) => {
          const count = `${sale.lots.length} lot${sale.lots.length === 1 ? "" : "s"}`;
          const words = startWords(sale);
          return foldedSale(sale, `${words[0].toUpperCase()}${words.slice(1)} · ${count}`, i === 0, shown, name);
        }),
      ),
    );
  }
  if (past.length) {
    blocks.push(
      block(
        "past-sales",
        "Past sales",
        past.map((sale, i) => {
          const lots = sale.lots.map((id) => state.lot(id));
          const sold = lots.filter((l) => l.outcome === "sold").length;
          const words = `${saleEndedWords(sale)} · ${sold} of ${lots.length} sold`;
          // Folded, so old results never push the current lots away; the one that just ended
          // is open while nothing else runs: its results are the news.
          return foldedSale(sale, words, i === 0 && !running.length, shown, name);
        }),
      ),
    );
  }
  if (!blocks.length) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = state.salesLoaded ? "No sales yet." : "Loading the catalogue…";
    blocks.push(p);
  }
  // Rebuilt on every change: keep the keyboard's place in the list.
  const focused = document.activeElement;
  const focusLot = ui.saleLists.contains(focused) ? focused.dataset.lot : undefined;
  const focusSale = ui.saleLists.contains(focused) && focused.tagName === "SUMMARY" ? focused.parentElement.dataset.sale : undefined;
  ui.saleLists.replaceChildren(...blocks);
  if (focusLot) ui.saleLists.querySelector(`.sale-item[data-lot="${CSS.escape(focusLot)}"]`)?.focus();
  if (focusSale) ui.saleLists.querySelector(`details[data-sale="${CSS.escape(focusSale)}"] > summary`)?.focus();
  renderLotSale(shown);
  renderIdle(shown);
}

/** On the lot panel: which sale the lot is in (two may run at once), and its estimate. */
function renderLotSale(lot) {
  const line = $("lot-sale");
  const estimate = $("lot-estimate");
  if (!lot) return;
  const sale = saleOf(lot);
  let words = sale ? sale.title : "";
  if (sale && !isRunning(sale)) {
    words += ` · ${sale.state === "ended" ? saleEndedWords(sale) : startWords(sale)}`;
  } else if (sale?.state === "paused") words += " · paused";
  line.textContent = words;
  line.hidden = !words;
  line.dataset.sale = sale?.sale ?? "";
  const est = estimateWords(lot);
  estimate.textContent = est;
  estimate.hidden = !est;
}

/** The lot panel with no lot current: what is going on, in words, and when the next sale is. */
function renderIdle(lot) {
  if (lot) return;
  const running = salesIn("running", "paused");
  const next = upcomingSales().find((sale) => sale.state === "scheduled");
  const last = pastSales()[0];
  let heading;
  let text = "";
  if (!state.salesLoaded && !state.sales.size) {
    heading = "Loading the catalogue…";
  } else if (running.length) {
    heading = "Waiting for the next lot";
    text = `${running.map((s) => s.title).join(" and ")}: the auctioneer brings the next lot to the block in a moment.`;
  } else if (last) {
    heading = last.reason === "cancelled" ? "The sale was cancelled" : "The sale has ended";
    const lots = last.lots.map((id) => state.lot(id));
    const sold = lots.filter((l) => l.outcome === "sold").length;
    text = `${last.title} has ${last.reason === "cancelled" ? "been cancelled" : "ended"}: ${sold} of ${lots.length} lot${lots.length === 1 ? "" : "s"} sold. Its results are under Past sales.`;
    // The moment that matters most to a winner stays on the panel once the sale is over.
    const won = lots.filter((l) => l.outcome === "sold" && l.winner !== null && isYou(l.winner, me(), aliases, l.sale));
    if (won.length) {
      const each = won.map((l) => `${l.title} for ${formatMoney(l.closed_amount ?? l.high_bid?.amount ?? 0, l.currency)}`);
      text = `You won ${each.join(" and ")}. ${text}`;
    }
  } else {
    heading = "No sale is running";
  }
  let nextWords = "";
  if (!running.length && state.salesLoaded) {
    nextWords = next
      ? `Next sale: ${next.title}, ${startWords(next)}.`
      : "No sale is running now and none is scheduled. Come back later.";
  }
  const h = document.createElement("h1");
  h.dataset.testid = "idle-title";
  h.textContent = heading;
  const p = document.createElement("p");
  p.dataset.testid = "idle-text";
  p.textContent = text;
  p.hidden = !text;
  const upcoming = document.createElement("p");
  upcoming.className = "idle-next";
  upcoming.dataset.testid = "next-sale";
  upcoming.textContent = nextWords;
  upcoming.hidden = !nextWords;
  ui.lotEmpty.replaceChildren(h, p, upcoming);
}

setInterval(() => {
  if (upcomingSales().length) renderSale();
}, SALES_TICK_MS);

// The countdown runs on its own short timer: only text and a bar change, ten times a second.
function tick() {
  const lot = shownLot ? state.lots.get(shownLot) : null;
  if (lot && lot.state === "paused") {
    // Stopped: the time that was left when the auctioneer paused, given back on resume.
    const left = typeof lot.remaining_ms === "number" ? lot.remaining_ms : null;
    ui.countdown.textContent = left === null ? "Paused" : formatLeft(left);
    ui.countdown.dataset.endsAt = "";
    ui.countdown.dataset.remainingMs = left === null ? "" : String(left);
    ui.countdown.dataset.urgency = "";
    ui.countdown.dataset.paused = "true";
    ui.clockLabel.textContent = "Time left (stopped)";
    if (left !== null && countdownFor.lot === lot.lot) {
      ui.clockFill.style.transform = `scaleX(${Math.min(1, left / countdownFor.windowTotal).toFixed(4)})`;
    }
    countdownFor.endsAt = null; // on resume, a fresh window from the new ends_at
    return;
  }
  ui.countdown.dataset.paused = "";
  ui.clockLabel.textContent = "Time left";
  if (!lot || lot.state !== "open" || lot.ends_at === null) {
    ui.countdown.textContent = lot && lot.state === "closed" ? "Closed" : "—";
    ui.countdown.dataset.endsAt = "";
    ui.countdown.dataset.remainingMs = "";
    ui.countdown.dataset.urgency = "";
    ui.clockFill.style.transform = "scaleX(0)";
    return;
  }
  const now = conn.clock.now();
  if (countdownFor.lot !== lot.lot || countdownFor.endsAt !== lot.ends_at) {
    const reset = countdownFor.lot === lot.lot && countdownFor.endsAt !== null && lot.ends_at > countdownFor.endsAt;
    countdownFor = { lot: lot.lot, endsAt: lot.ends_at, windowStart: now, windowTotal: Math.max(1, lot.ends_at - now) };
    if (reset) {
      // A bid put time back on the clock: make the jump visible.
      ui.countdown.classList.remove("bump");
      void ui.countdown.offsetWidth;
      ui.countdown.classList.add("bump");
    }
  }
  const left = Math.max(0, lot.ends_at - now);
  ui.countdown.textContent = formatLeft(left);
  ui.countdown.dataset.endsAt = lot.ends_at;
  ui.countdown.dataset.remainingMs = Math.round(left);
  ui.countdown.dataset.urgency = left < 5000 ? "high" : left < 10_000 ? "medium" : "";
  ui.clockFill.style.transform = `scaleX(${Math.min(1, left / countdownFor.windowTotal).toFixed(4)})`;
}

// -- your name, or your account ---------------------------------------------------------------

function showMode(mode) {
  if (mode === "guest" && !serverInfo.guests) mode = "login";
  for (const button of ui.dialog.querySelectorAll(".mode")) {
    button.hidden = button.dataset.mode === "guest" ? !serverInfo.guests : !serverInfo.accounts;
    button.setAttribute("aria-pressed", String(button.dataset.mode === mode));
  }
  for (const form of ui.dialog.querySelectorAll("form[data-panel]")) {
    form.hidden = form.dataset.panel !== mode;
  }
  const first = ui.dialog.querySelector(`form[data-panel="${mode}"] input`);
  if (first && ui.dialog.open) first.focus();
}

function askName(force = false, why = "", mode = "guest") {
  ui.nameInput.value = localStorage.getItem(NAME_KEY) || "";
  ui.nameInput.setCustomValidity("");
  ui.accountError.textContent = why;
  if (!ui.dialog.open) ui.dialog.showModal();
  showMode(mode);
  ui.dialog.dataset.force = force ? "1" : "";
}

ui.nameInput.addEventListener("input", () => ui.nameInput.setCustomValidity(""));
ui.nameForm.addEventListener("submit", (event) => {
  const name = ui.nameInput.value.trim();
  if (!NAME_RE.test(name)) {
    event.preventDefault();
    ui.nameInput.setCustomValidity("Use 1 to 32 letters, digits, spaces, dots, dashes or underscores.");
    ui.nameInput.reportValidity();
    return;
  }
  localStorage.setItem(NAME_KEY, name);
  if (account) logout(false); // a guest name instead of the account
  if (conn.name === null && !conn.ws) conn.start(name, savedGuestToken(name));
  else if (name !== conn.name || ui.dialog.dataset.force) conn.rename(name);
});
ui.dialog.addEventListener("cancel", (event) => {
  if (!conn.ws && !conn.user) event.preventDefault(); // a name or a login is needed to join
});
ui.me.addEventListener("click", () => askName(false, "", account ? "login" : "guest"));
for (const button of ui.dialog.querySelectorAll(".mode")) {
  button.addEventListener("click", () => {
    ui.accountError.textContent = "";
    showMode(button.dataset.mode);
  });
}

/** POST credentials; the server answers with the account and sets the HttpOnly cookie. */
async function authenticate(path, form) {
  const submit = form.querySelector("button[type=submit]");
  const body = {
    username: form.elements.username.value.trim(),
    password: form.elements.password.value,
  };
  submit.disabled = true;
  ui.accountError.textContent = "";
  try {
    const response = await fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(body),
    });
    let reply = null;
    try {
      reply = await response.json();
    } catch {
      // not JSON: say what we can
    }
    if (!response.ok) {
      ui.accountError.textContent = reply?.message
        ? reply.message.replace(/^body\.\w+: /, "")
        : `The server said HTTP ${response.status}.`;
      form.elements.password.select();
      return;
    }
    form.elements.password.value = "";
    account = { user: reply.user, role: reply.role };
    ui.dialog.close();
    conn.rename(null); // reconnect: the handshake carries the new cookie
    render();
  } catch {
    ui.accountError.textContent = "Cannot reach the server; try again in a moment.";
  } finally {
    submit.disabled = false;
  }
}

ui.loginForm.addEventListener("submit", (event) => {
  event.preventDefault();
  authenticate("/api/login", ui.loginForm);
});
ui.registerForm.addEventListener("submit", (event) => {
  event.preventDefault();
  authenticate("/api/register", ui.registerForm);
});

async function logout(ask = true) {
  account = null;
  conn.stop();
  try {
    await fetch("/api/logout", { method: "POST" });
  } catch {
    // the cookie is cleared on the next successful call; the session is closed already
  }
  render();
  if (ask) askName(true, "You are logged out.", serverInfo.guests ? "guest" : "login");
}
ui.logout.addEventListener("click", () => logout());

// -- the theme: the system's (prefers-color-scheme) until the person picks one --------------------

const systemLight = window.matchMedia("(prefers-color-scheme: light)");

function theme() {
  return document.documentElement.dataset.theme || (systemLight.matches ? "light" : "dark");
}

function showTheme() {
  const other = theme() === "light" ? "Dark theme" : "Light theme";
  ui.theme.querySelector(".theme-text").textContent = other;
  ui.theme.querySelector(".theme-icon").textContent = other === "Light theme" ? "☀" : "☾";
  ui.theme.setAttribute("aria-label", `Switch to the ${other.toLowerCase()}`);
  ui.theme.dataset.theme = theme();
}

ui.theme.addEventListener("click", () => {
  const next = theme() === "light" ? "dark" : "light";
  document.documentElement.dataset.theme = next;
  try {
    localStorage.setItem(THEME_KEY, next);
  } catch {
    // private mode: the choice lasts as long as the page
  }
  showTheme();
});
systemLight.addEventListener("change", showTheme);
showTheme();

// -- toasts keep clear of the bid controls --------------------------------------------------------

/**
 * Toasts sit at the bottom of the window, or just under the top bar when the bid form (its
 * amounts, button, quick raises and buy-now) is in the way there: on a phone they would otherwise
 * cover it. When both are in the way, the one that covers less of it.
 */
function placeToasts() {
  if (!ui.toasts.children.length) return;
  const guarded = [ui.form, ui.buyBox]
    .filter((el) => !el.hidden && el.offsetParent !== null)
    .map((el) => el.getBoundingClientRect());
  const height = ui.toasts.offsetHeight;
  const column = ui.toasts.getBoundingClientRect(); // its left and right do not move
  const gap = 8;
  const topAt = document.querySelector(".topbar").getBoundingClientRect().bottom + gap;
  const bottomAt = window.innerHeight - 16 - height;
  const covered = (top) =>
    guarded.reduce((sum, box) => {
      if (box.right <= column.left || box.left >= column.right) return sum;
      return sum + Math.max(0, Math.min(top + height + gap, box.bottom) - Math.max(top - gap, box.top));
    }, 0);
  const bottomCovers = covered(bottomAt);
  const atTop = bottomCovers > 0 && covered(topAt) < bottomCovers;
  ui.toasts.dataset.edge = atTop ? "top" : "bottom";
  ui.toasts.style.top = atTop ? `${Math.round(topAt)}px` : "";
}
let placing = false;
function schedulePlaceToasts() {
  if (placing) return;
  placing = true;
  requestAnimationFrame(() => {
    placing = false;
    placeToasts();
  });
}
window.addEventListener("scroll", schedulePlaceToasts, { passive: true });
window.addEventListener("resize", schedulePlaceToasts);
new MutationObserver(schedulePlaceToasts).observe(ui.toasts, { childList: true });

// -- wiring --------------------------------------------------------------------------------------

ui.form.addEventListener("submit", placeBid);
ui.amount.addEventListener("input", () => {
  amountDirty = ui.amount.value.trim() !== "";
});
ui.buyNow.addEventListener("click", buyNow);
ui.follow.addEventListener("click", () => {
  viewing = null;
  render();
});
ui.more.addEventListener("click", () => {
  if (shownLot) loadHistory(shownLot, true);
});

conn.addEventListener("status", (event) => {
  const { state: s, detail } = event.detail;
  ui.conn.dataset.state = s;
  ui.connText.textContent =
    // "Connected", not "Live": a paused or closed lot is not live because the link is up.
    s === "live" ? "Connected" : s === "connecting" ? "Connecting…" : s === "ended" ? "Not connected" : detail || "Reconnecting…";
  // Whether bidding is possible is render's to say (the lot may be paused or closed).
  scheduleRender();
});
conn.addEventListener("message", (event) => onMessage(event.detail));

setInterval(tick, 100);
let chartWidth = 0;
new ResizeObserver(() => {
  // Redraw on the next frame, and only for a new width: drawing changes the chart's height,
  // and changing an observed box inside its own callback is a ResizeObserver loop error.
  if (ui.chart.clientWidth === chartWidth) return;
  chartWidth = ui.chart.clientWidth;
  requestAnimationFrame(() => {
    const lot = shownLot ? state.lots.get(shownLot) : null;
    if (lot) renderChart(lot, me());
  });
}).observe(ui.chart);
// The chart's right edge is "now": redraw it now and then while a lot is open.
setInterval(() => {
  const lot = shownLot ? state.lots.get(shownLot) : null;
  if (lot && lot.state === "open") renderChart(lot, me());
}, 1000);

async function getJson(path) {
  try {
    const response = await fetch(path, { headers: { accept: "application/json" } });
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

async function startup() {
  const info = await getJson("/api/info");
  if (info) serverInfo = info;
  if (info?.me) {
    account = info.me;
    conn.start(null); // the cookie says who we are
  } else {
    const saved = localStorage.getItem(NAME_KEY);
    if (serverInfo.guests && saved && NAME_RE.test(saved)) conn.start(saved, savedGuestToken(saved));
    else if (onPastPage()) askNameInTheSaleroom();
    else askName(false, "", serverInfo.guests ? "guest" : "login");
  }
  render();
}

loadSales();
render();
startup();
import("./activity.js").then((m) => m.startActivity(conn, currentLot)); // My activity, notices
import("./results.js"); // a sale's results page and replays: #results/<sale>, #replay/...

/** Under a past sale: its results page and its replay (web/results.js shows both). */
function pastLinks(sale) {
  const links = document.createElement("p");
  links.className = "past-links";
  const id = encodeURIComponent(sale.sale);
  for (const [href, text, testid] of [
    [`#results/${id}`, "Results", "results-link"],
    [`#replay/sale/${id}`, "▶ Replay the sale", "replay-sale-link"],
  ]) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    a.dataset.testid = testid;
    links.append(a);
  }
  return links;
}

// A results page, a replay (results.js) or a bid history (history.js) needs no name: it is asked
// when the person goes to the saleroom.
function onPastPage() {
  return /^#(results|replay|history)\//.test(location.hash);
}
function askNameInTheSaleroom() {
  // Reading a past sale needs no name and no live link: say so, not "Connecting…" forever.
  ui.conn.dataset.state = "idle";
  ui.connText.textContent = "Reading only";
  const ask = () => {
    if (onPastPage()) return;
    window.removeEventListener("hashchange", ask);
    if (conn.name === null && !conn.ws && !account) askName(false, "", serverInfo.guests ? "guest" : "login");
  };
  window.addEventListener("hashchange", ask);
}

/** On a closed lot's page: its replay and its sale's results (web/results.js). */
function renderLotPastLinks(lot) {
  const links = document.getElementById("lot-past-links");
  links.hidden = lot.state !== "closed";
  if (links.hidden) return;
  document.getElementById("lot-replay").href = `#replay/lot/${encodeURIComponent(lot.lot)}`;
  document.getElementById("lot-results").href = `#results/${encodeURIComponent(lot.sale)}`;
}

import("./history.js").then((m) => m.startHistory(currentLot, aliases)); // bid histories (#history/...)
