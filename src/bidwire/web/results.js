// A sale's public results page and the replay of a closed lot or sale, as views of their own on
// the main page, by address:
//
//   #results/<sale>       each lot: its result in words, hammer, bids and bidders, and a replay
//                         link (GET /api/sales/{id}/results; pseudonyms in an anonymous sale);
//   #replay/lot/<lot>     one closed lot replayed from its log (GET /api/lots/{id}/replay);
//   #replay/sale/<sale>   the sale's closed lots replayed together (GET /api/sales/{id}/replay).
//
// While one of them shows, the saleroom (main.layout) is hidden; leaving the address brings it
// back. The replay's rules (virtual time, what was shown at it) are web/replay.js, pure; this
// module only fetches, draws and wires the controls. Nothing here is a rule of bidding.

import { formatMoney } from "./money.js";
import { QUIET_GAP_MS, ReplayClock, SPEEDS, formatElapsed, formatLeft, quietJump, stateAt, timeline } from "./replay.js";

const RESULTS_ROUTE = /^#results\/(.+)$/;
const REPLAY_ROUTE = /^#replay\/(lot|sale)\/(.+)$/;
const PAGE_LIMIT = 20_000; // events asked per replay page (the server's most)
const SKIPPED_SHOWN_MS = 4_000; // how long "Skipped 49:45 with nothing happening." stays
const MAX_PAGES = 25; // a replay of up to 500,000 events; past that the page says it stopped
const DEFAULT_SPEED = 10;
const BIDS_SHOWN = 12;

const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "class") node.className = value;
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
};

export function resultsLink(sale) {
  return `#results/${encodeURIComponent(sale)}`;
}

export function replayLink(kind, id) {
  return `#replay/${kind}/${encodeURIComponent(id)}`;
}

function decoded(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}

/** The view the address asks for: {kind: "results"|"lot"|"sale", id} or null. */
function routed() {
  const results = RESULTS_ROUTE.exec(location.hash);
  if (results) {
    const id = decoded(results[1]);
    return id === null ? null : { kind: "results", id };
  }
  const replay = REPLAY_ROUTE.exec(location.hash);
  if (replay) {
    const id = decoded(replay[2]);
    return id === null ? null : { kind: replay[1], id };
  }
  return null;
}

async function getJson(path) {
  let reply;
  try {
    reply = await fetch(path, { headers: { accept: "application/json" } });
  } catch {
    throw new Error("The server cannot be reached. Check your connection and try again.");
  }
  let body = null;
  try {
    body = await reply.json();
  } catch {
    body = null;
  }
  if (!reply.ok) throw new Error(body?.message ? `${body.message[0].toUpperCase()}${body.message.slice(1)}.` : `The server answered ${reply.status}.`);
  return body;
}

function money(amount, currency) {
  return amount === null || amount === undefined ? "—" : formatMoney(amount, currency);
}

/** A lot's result in words, for a person. */
export function resultWords(row) {
  if (row.state === "scheduled") return "Not open yet";
  if (row.state === "open") return "Open: bidding now";
  if (row.state === "paused") return "Paused";
  switch (row.reason) {
    case "buy_now":
      return row.winner ? `Bought now by ${row.winner}` : "Bought now";
    case "withdrawn":
      return "Withdrawn by the house";
    case "reserve_not_met":
      return "Unsold: the reserve was not met";
    case "no_bids":
      return "Unsold: no bids";
    default:
      if (row.outcome === "sold") return row.winner ? `Sold to ${row.winner}` : "Sold";
      return "Unsold";
  }
}

/** The page's badge colours (style.css): sold, unsold, withdrawn, paused. */
function badgeKind(lot) {
  if (lot.state === "paused") return "paused";
  if (lot.state !== "closed") return "";
  if (lot.reason === "withdrawn") return "withdrawn";
  return lot.outcome === "sold" ? "sold" : "unsold";
}

function priceLabel(lot) {
  if (lot.state !== "closed") return "Current bid";
  if (lot.outcome === "sold") return lot.reason === "buy_now" ? "Bought now at" : "Hammer";
  return "Highest bid";
}

function leaderWords(lot) {
  if (lot.state === "closed") {
    if (lot.winner) return lot.reason === "buy_now" ? `Bought now by ${lot.winner}` : `Won by ${lot.winner}`;
    return lot.leader ? `Not sold (high bid: ${lot.leader})` : "No bids";
  }
  return lot.leader ? `Leading: ${lot.leader}` : "No bids yet";
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function clockTime(ts) {
  return new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

class PastViews {
  constructor() {
    this.section = document.getElementById("past-page");
    this.main = document.querySelector("main.layout");
    this.shown = null; // the route being shown
    this.replay = null; // the running replay's state
    this.frame = 0;
    window.addEventListener("hashchange", () => this.sync());
    this.sync();
  }

  sync() {
    const route = routed();
    const key = route ? `${route.kind}/${route.id}` : null;
    if (key === this.shown) return;
    this.stop();
    this.shown = key;
    if (!route) {
      this.section.hidden = true;
      this.section.replaceChildren();
      if (this.main) this.main.hidden = false;
      return;
    }
    if (this.main) this.main.hidden = true;
    this.section.hidden = false;
    window.scrollTo(0, 0);
    if (route.kind === "results") this.showResults(route.id, key);
    else this.showReplay(route.kind, route.id, key);
  }

  stop() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.replay = null;
  }

  back(href, text) {
    return el("a", { class: "past-back", href, dataset: { testid: "past-back" } }, `← ${text}`);
  }

  loading(text) {
    this.section.replaceChildren(
      this.back("#", "Back to the saleroom"),
      el("p", { class: "past-status", role: "status" }, text),
    );
  }

  failed(key, error, backHref, backText) {
    if (this.shown !== key) return;
    this.section.replaceChildren(
      this.back(backHref, backText),
      el("p", { class: "past-status past-error", role: "alert", dataset: { testid: "past-error" } }, error.message),
    );
  }

  // -- results ---------------------------------------------------------------------------------

  async showResults(sale, key) {
    this.loading("Loading the results…");
    let results;
    try {
      results = await getJson(`/api/sales/${encodeURIComponent(sale)}/results`);
    } catch (error) {
      this.failed(key, error, "#", "Back to the saleroom");
      return;
    }
    if (this.shown !== key) return;
    document.title = `${results.title}: results · bidwire`;
    const closed = results.lots.filter((row) => row.state === "closed");
    const sold = closed.filter((row) => row.outcome === "sold" || row.outcome === "bought_now");
    const totals = new Map();
    for (const row of sold) totals.set(row.currency, (totals.get(row.currency) ?? 0) + row.hammer);
    const totalWords = [...totals].map(([currency, total]) => formatMoney(total, currency)).join(" + ");
    const offered = results.lots.filter((row) => row.reason !== "withdrawn").length;
    const stateWords = results.state === "ended" ? "Final results" : `Results so far: the sale is ${results.state}`;
    const summary = [
      `${sold.length} of ${plural(offered, "lot")} offered sold`,
      totalWords ? `${totalWords} in hammer` : null,
      closed.length < results.lots.length ? `${results.lots.length - closed.length} not closed yet` : null,
    ].filter(Boolean).join(" · ");

    const rows = results.lots.map((row) => {
      const canReplay = row.state === "closed";
      return el(
        "tr",
        { class: `result-row result-${row.outcome ?? row.state}`, dataset: { lot: row.lot, testid: "result-row" } },
        el("th", { scope: "row", class: "result-title" }, row.title),
        el("td", { class: "result-words", dataset: { testid: "result-words", label: "Result" } }, resultWords(row)),
        el("td", { class: "result-hammer num", dataset: { testid: "result-hammer", label: "Hammer" } }, money(row.hammer, row.currency)),
        el("td", { class: "num", dataset: { testid: "result-bids", label: "Bids" } }, String(row.bids)),
        el("td", { class: "num", dataset: { testid: "result-bidders", label: "Bidders" } }, String(row.bidders)),
        el(
          "td",
          { class: "result-replay" },
          canReplay
            ? el("a", { href: replayLink("lot", row.lot), class: "replay-link", dataset: { testid: "replay-lot" } }, "Replay")
            : el("span", { class: "muted" }, "—"),
        ),
      );
    });
    const table = el(
      "table",
      { class: "results-table", dataset: { testid: "results-table" } },
      el("caption", { class: "sr-only" }, `Each lot of ${results.title} and its result`),
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          el("th", { scope: "col" }, "Lot"),
          el("th", { scope: "col" }, "Result"),
          el("th", { scope: "col", class: "num" }, "Hammer"),
          el("th", { scope: "col", class: "num" }, "Bids"),
          el("th", { scope: "col", class: "num" }, "Bidders"),
          el("th", { scope: "col" }, el("span", { class: "sr-only" }, "Replay")),
        ),
      ),
      el("tbody", {}, ...rows),
    );
    this.section.replaceChildren(
      this.back("#", "Back to the saleroom"),
      el(
        "header",
        { class: "past-head" },
        el("p", { class: "eyebrow" }, stateWords),
        el("h1", { dataset: { testid: "results-title" } }, results.title),
        el("p", { class: "past-summary", dataset: { testid: "results-summary" } }, summary),
        closed.length
          ? el("a", { class: "bid-button replay-sale", href: replayLink("sale", sale), dataset: { testid: "replay-sale" } }, "▶ Replay the sale")
          : null,
      ),
      el("div", { class: "card results-card" }, table),
    );
  }

  // -- replay ----------------------------------------------------------------------------------

  async fetchReplay(kind, id) {
    const base = `/api/${kind === "lot" ? "lots" : "sales"}/${encodeURIComponent(id)}/replay?limit=${PAGE_LIMIT}`;
    const lots = [];
    let title = null;
    let sale = null;
    let cursor = "";
    let cut = false;
    for (let page = 0; ; page += 1) {
      if (page >= MAX_PAGES) {
        cut = true;
        break;
      }
      const body = await getJson(base + cursor);
      if (kind === "lot") {
        lots.push(body);
        title = body.title;
        sale = body.sale;
        if (body.next_after_seq === null) break;
        cursor = `&after_seq=${body.next_after_seq}`;
      } else {
        lots.push(...body.lots);
        title = body.title;
        sale = body.sale;
        if (body.next_after === null) break;
        cursor = `&after=${encodeURIComponent(body.next_after)}`;
      }
    }
    return { lots, title, sale, cut };
  }

  async showReplay(kind, id, key) {
    this.loading("Loading the log…");
    let data;
    try {
      data = await this.fetchReplay(kind, id);
    } catch (error) {
      this.failed(key, error, "#", "Back to the saleroom");
      return;
    }
    if (this.shown !== key) return;
    const tl = timeline(data.lots);
    document.title = `Replay: ${data.title} · bidwire`;
    const back = this.back(resultsLink(data.sale), "Back to the results");
    if (!tl.events.length) {
      this.section.replaceChildren(
        back,
        el("h1", {}, data.title),
        el("p", { class: "past-status", role: "status", dataset: { testid: "replay-empty" } }, "Nothing to replay yet: no lot of this sale has closed."),
      );
      return;
    }
    const clock = new ReplayClock(tl.start, tl.end, DEFAULT_SPEED);
    const ui = this.replayUi(kind, data, tl, clock, back);
    this.replay = { kind, tl, clock, ui, shown: null, pinned: null, drawnApplied: -1, drawnLot: null };
    this.draw();
  }

  replayUi(kind, data, tl, clock, back) {
    const play = el("button", { type: "button", class: "bid-button replay-play", dataset: { testid: "replay-play" } }, "▶ Play");
    const restart = el("button", { type: "button", class: "replay-button", dataset: { testid: "replay-restart" } }, "⟲ Restart");
    const speeds = el("div", { class: "replay-speeds", role: "group", "aria-label": "Speed" });
    for (const speed of SPEEDS) {
      speeds.append(
        el("button", { type: "button", class: "replay-speed", dataset: { speed: String(speed), testid: "replay-speed" }, "aria-pressed": String(speed === clock.speed) }, `${speed}×`),
      );
    }
    const scrub = el("input", {
      type: "range", min: "0", max: "1000", step: "1", value: "0", class: "replay-scrub",
      "aria-label": "Where in the replay", dataset: { testid: "replay-scrub" },
    });
    const elapsed = el("span", { class: "replay-elapsed", dataset: { testid: "replay-elapsed" } });
    const at = el("span", { class: "replay-at", dataset: { testid: "replay-at" } });
    const stage = el("section", { class: "card replay-stage", dataset: { testid: "replay-stage" }, "aria-live": "off" });
    const list = kind === "sale" ? el("ol", { class: "replay-lots", dataset: { testid: "replay-lots" } }) : null;
    const skip = el("input", { type: "checkbox", dataset: { testid: "replay-skip" } });
    skip.checked = true;
    const skipped = el("span", { class: "replay-skipped", role: "status", dataset: { testid: "replay-skipped" } });

    play.addEventListener("click", () => {
      const now = performance.now();
      if (clock.playing && !clock.finished(now)) clock.pause(now);
      else {
        if (clock.playing) clock.pause(now); // finished: from the start again
        clock.play(now);
      }
      this.draw();
    });
    restart.addEventListener("click", () => {
      // back to the opening, held there: Play starts it again
      const now = performance.now();
      clock.pause(now);
      clock.restart(now);
      this.draw();
    });
    speeds.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-speed]");
      if (!button) return;
      clock.setSpeed(Number(button.dataset.speed), performance.now());
      for (const b of speeds.children) b.setAttribute("aria-pressed", String(b === button));
      this.draw();
    });
    scrub.addEventListener("input", () => {
      const t = tl.start + ((tl.end - tl.start) * Number(scrub.value)) / 1000;
      clock.seek(t, performance.now());
      this.draw();
    });
    list?.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-lot]");
      if (!button || !this.replay) return;
      this.replay.pinned = this.replay.pinned === button.dataset.lot ? null : button.dataset.lot;
      this.replay.drawnApplied = -1;
      this.draw();
    });

    const heading = kind === "lot" ? `Replay: ${data.title}` : `Replay: ${data.title}`;
    const lede = kind === "lot"
      ? "The bidding as it happened, from the lot's log: every bid, the leader and the countdown."
      : `The sale as it happened, from its log: ${plural(tl.lots.length, "closed lot")}, every bid and countdown.`;
    this.section.replaceChildren(
      back,
      el(
        "header",
        { class: "past-head" },
        el("p", { class: "eyebrow" }, "Replay"),
        el("h1", { dataset: { testid: "replay-title" } }, heading),
        el("p", { class: "past-summary" }, lede),
        data.cut ? el("p", { class: "past-status past-error" }, "This replay is too long to load whole: it stops early.") : null,
      ),
      el(
        "div",
        { class: "card replay-controls", dataset: { testid: "replay-controls" } },
        el("div", { class: "replay-row" }, play, restart, speeds),
        el("div", { class: "replay-row replay-time" }, scrub, el("span", { class: "replay-times" }, elapsed, at)),
        el(
          "div",
          { class: "replay-row replay-quiet" },
          el("label", { class: "replay-skip" }, skip, ` Skip quiet stretches (over ${QUIET_GAP_MS / 1000} s with nothing happening)`),
          skipped,
        ),
      ),
      el("div", { class: `replay-body replay-body-${kind}` }, stage, list),
    );
    return { play, scrub, elapsed, at, stage, list, skip, skipped };
  }

  draw() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    const replay = this.replay;
    if (!replay) return;
    const now = performance.now();
    const { clock, tl, ui } = replay;
    let t = clock.at(now);
    const jump = clock.playing && ui.skip.checked ? quietJump(tl, t) : null;
    if (jump) {
      clock.seek(jump.to, now);
      t = jump.to;
      ui.skipped.textContent = `Skipped ${formatLeft(jump.skipped)} with nothing happening.`;
      replay.skippedUntil = now + SKIPPED_SHOWN_MS;
    } else if (replay.skippedUntil && now > replay.skippedUntil) {
      ui.skipped.textContent = "";
      replay.skippedUntil = 0;
    }
    replay.shown = stateAt(tl, t, replay.shown);
    const shown = replay.shown;
    const finished = clock.finished(now);
    ui.play.textContent = clock.playing && !finished ? "❚❚ Pause" : finished && clock.playing ? "▶ Play again" : "▶ Play";
    ui.play.setAttribute("aria-pressed", String(clock.playing && !finished));
    if (document.activeElement !== ui.scrub) ui.scrub.value = String(Math.round(clock.progress(now) * 1000));
    ui.elapsed.textContent = formatElapsed(clock, now);
    ui.at.textContent = `log time ${clockTime(t)}`;
    const lot = (replay.pinned && shown.byLot.get(replay.pinned)) || shown.focus;
    this.drawStage(lot, t, replay);
    if (ui.list) this.drawList(shown, lot, replay);
    replay.drawnApplied = shown.applied;
    replay.drawnLot = lot?.lot ?? null;
    if (clock.playing && !finished) this.frame = requestAnimationFrame(() => this.draw());
  }

  drawStage(lot, t, replay) {
    const { stage } = replay.ui;
    if (!lot) return;
    const fresh = replay.drawnApplied !== replay.shown.applied || replay.drawnLot !== lot.lot || !stage.firstChild;
    if (!fresh) {
      // only the countdown moves between events
      const countdown = stage.querySelector("[data-testid=replay-countdown]");
      if (countdown) countdown.textContent = this.countdownWords(lot);
      stage.querySelector(".clockbar span")?.style.setProperty("width", `${this.clockShare(lot)}%`);
      return;
    }
    const stateWords = {
      scheduled: "Not open yet",
      open: "Open",
      paused: "Paused",
      closed: lot.state === "closed" ? resultWords({ ...lot, state: "closed", hammer: lot.amount }) : "",
    }[lot.state];
    const bids = lot.bids.slice(0, BIDS_SHOWN).map((bid) =>
      el(
        "li",
        { class: `replay-bid${bid.voided ? " voided" : ""}${bid === lot.bids[0] && bid.ts === replay.shown.last?.ts ? " fresh" : ""}`, dataset: { testid: "replay-bid", seq: String(bid.seq) } },
        el("span", { class: "replay-bid-amount" }, money(bid.amount, lot.currency)),
        el("span", { class: "replay-bid-who" }, bid.bidder),
        bid.auto ? el("span", { class: "tag tag-auto", title: "Placed by the house for the bidder's maximum" }, "auto") : null,
        bid.voided
          ? el("span", { class: "tag tag-void" }, "voided")
          : bid.willBeVoided
            ? el("span", { class: "tag tag-void-later", title: "An admin voided this bid later" }, "later voided")
            : null,
        el("time", { class: "replay-bid-time" }, clockTime(bid.ts)),
      ),
    );
    stage.replaceChildren(
      el(
        "div",
        { class: "replay-lot-head" },
        el("h2", { dataset: { testid: "replay-lot-title" } }, lot.title),
        el("span", { class: "badge replay-state", dataset: { testid: "replay-state", state: lot.state, kind: badgeKind(lot) } }, stateWords),
      ),
      el(
        "div",
        { class: "stats replay-stats" },
        el(
          "div",
          { class: "stat stat-price" },
          el("span", { class: "stat-label" }, priceLabel(lot)),
          el("span", { class: "stat-value price", dataset: { testid: "replay-price" } }, money(lot.state === "closed" && lot.outcome === "sold" ? lot.amount : lot.price, lot.currency)),
          el("span", { class: "stat-sub", dataset: { testid: "replay-leader" } }, leaderWords(lot)),
        ),
        el(
          "div",
          { class: "stat" },
          el("span", { class: "stat-label" }, "Bids"),
          el("span", { class: "stat-value", dataset: { testid: "replay-bid-count" } }, String(lot.bidCount)),
          el("span", { class: "stat-sub", dataset: { testid: "replay-extensions" } }, lot.extensions ? `Extended ${lot.extensions === 1 ? "once" : `${lot.extensions} times`}` : "Not extended"),
        ),
        el(
          "div",
          { class: "stat stat-clock" },
          el("span", { class: "stat-label" }, "Time left"),
          el("span", { class: "stat-value countdown", dataset: { testid: "replay-countdown" } }, this.countdownWords(lot)),
          el("span", { class: "clockbar", "aria-hidden": "true" }, el("span", { style: `width: ${this.clockShare(lot)}%` })),
        ),
      ),
      el("h3", { class: "replay-bids-title" }, lot.bids.length ? "Bids, newest first" : lot.state === "closed" ? "No bids were placed" : "No bids yet"),
      el("ol", { class: "replay-bids", dataset: { testid: "replay-bids" } }, ...bids),
    );
  }

  countdownWords(lot) {
    if (lot.state === "closed") return "Closed";
    if (lot.state === "scheduled") return "—";
    return formatLeft(lot.left);
  }

  clockShare(lot) {
    if (lot.state === "closed" || lot.state === "scheduled" || lot.openedAt === null) return 0;
    const window = Math.max(1, (lot.latestEnd ?? lot.endsAt) - lot.openedAt);
    return Math.max(0, Math.min(100, (100 * lot.left) / window));
  }

  drawList(shown, focus, replay) {
    if (replay.drawnApplied === shown.applied && replay.drawnLot === (focus?.lot ?? null)) return;
    const items = shown.lots.map((lot) => {
      // a closed lot shows its hammer, or nothing: an unsold lot's high bid bought nothing
      const price = lot.state === "closed" ? (lot.outcome === "sold" ? lot.amount : null) : lot.price;
      return el(
        "li",
        {},
        el(
          "button",
          {
            type: "button",
            class: `replay-lot state-${lot.state}${focus && lot.lot === focus.lot ? " focused" : ""}`,
            dataset: { lot: lot.lot, testid: "replay-lot" },
            "aria-pressed": String(replay.pinned === lot.lot),
            title: replay.pinned === lot.lot ? "Shown until you click it again" : "Show this lot",
          },
          el("span", { class: "replay-lot-title" }, lot.title),
          el("span", { class: "replay-lot-state" }, lot.state === "closed" ? resultWords({ ...lot, state: "closed" }) : { scheduled: "not open yet", open: "open", paused: "paused" }[lot.state]),
          el("span", { class: "replay-lot-price num" }, money(price, lot.currency)),
        ),
      );
    });
    replay.ui.list.replaceChildren(...items);
  }
}

new PastViews();
