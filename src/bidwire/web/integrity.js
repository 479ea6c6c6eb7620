// The admin page's integrity panel (issue 13, point 4): bidders whose shill-bidding score
// passes the threshold, flagged during the sale, with the features that raised it. Its own
// module: it reads GET /api/admin/sales/{id}/integrity once a second while the chosen sale
// runs (every 10 s once it has ended) and only while the admin page is shown. Text from the
// server goes in with textContent, never as HTML.

const POLL_RUNNING_MS = 1000;
const POLL_IDLE_MS = 10000;
const SALES_EVERY_MS = 5000;
const MAX_ROWS = 100;

/** What each feature means when it raised a score, in words an auctioneer reads. */
export const FEATURE_WORDS = {
  bidding_ratio: "bids a large share of the bids",
  successive_outbidding: "outbids others at once",
  early_bidding: "bids early",
  last_bidding: "stops before the end",
  auction_bids: "on the busiest lots",
  winning_ratio: "rarely wins",
};

const $ = (id) => document.getElementById(id);
const ui = {
  admin: $("admin"),
  card: $("integrity-card"),
  pick: $("integrity-sale"),
  summary: $("integrity-summary"),
  rows: $("integrity-rows"),
  rule: $("integrity-rule"),
};

function el(tag, text = "", props = {}) {
  const node = document.createElement(tag);
  if (text !== "") node.textContent = text;
  Object.assign(node, props);
  return node;
}

function cell(label, ...children) {
  const td = el("td");
  td.dataset.label = label;
  td.append(...children);
  return td;
}

const pct = (x) => `${Math.round(x * 100)}%`;

let sales = [];
let salesAt = 0;
let picked = ""; // the sale the admin chose; "" follows the running one
let timer = null;

async function getJson(path) {
  const response = await fetch(path, { headers: { accept: "application/json" } });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const err = new Error((body && body.message) || `HTTP ${response.status}`);
    err.status = response.status;
    throw err;
  }
  return body;
}

function chosen() {
  if (picked && sales.some((s) => s.sale === picked)) return sales.find((s) => s.sale === picked);
  const live = sales.find((s) => s.state === "running" || s.state === "paused");
  if (live) return live;
  const ended = sales.filter((s) => s.state === "ended");
  return ended[ended.length - 1] || null;
}

function renderPicker(current) {
  const want = sales.map((s) => `${s.sale}|${s.state}|${s.title}`).join("\n");
  if (ui.pick.dataset.made !== want) {
    ui.pick.replaceChildren(
      ...sales
        .filter((s) => s.state !== "held" && s.state !== "scheduled")
        .map((s) => el("option", `${s.title} (${s.state})`, { value: s.sale })),
    );
    ui.pick.dataset.made = want;
  }
  if (current) ui.pick.value = current.sale;
}

function featureChips(names) {
  const list = el("ul", "", { className: "integrity-raised" });
  for (const name of names) {
    const chip = el("li", FEATURE_WORDS[name] || name);
    chip.dataset.feature = name;
    list.append(chip);
  }
  return list;
}

function scoreBar(score, threshold) {
  const box = el("span", "", { className: "integrity-score" });
  const bar = el("span", "", { className: "integrity-bar" });
  const fill = el("span", "", { className: "integrity-fill" });
  fill.style.width = pct(Math.max(0, Math.min(1, score)));
  const mark = el("span", "", { className: "integrity-mark" });
  mark.style.left = pct(threshold);
  bar.append(fill, mark);
  box.append(el("span", score.toFixed(2), { className: "integrity-number" }), bar);
  return box;
}

export function render(report, sale) {
  const flagged = report.bidders.filter((b) => b.flagged);
  // the server lists the first bidders (flagged first) and counts them all
  const total = report.bidders_total ?? report.bidders.length;
  const flaggedCount = report.flagged ?? flagged.length;
  ui.card.dataset.flagged = String(flaggedCount);
  const running = sale && (sale.state === "running" || sale.state === "paused");
  const when = running ? "so far, updated every second" : "final";
  if (!total) {
    ui.summary.textContent = `No bids yet in this sale (${when}).`;
  } else if (!flaggedCount) {
    ui.summary.textContent = `Nobody flagged among ${total} bidders (${when}).`;
  } else {
    const names = flagged.map((b) => b.bidder).join(", ");
    const more = flaggedCount > flagged.length ? ` and ${flaggedCount - flagged.length} more` : "";
    const who = flaggedCount === 1 ? "1 bidder flagged" : `${flaggedCount} bidders flagged`;
    ui.summary.textContent = `${who}: ${names}${more} (${when}).`;
  }
  ui.summary.dataset.kind = flaggedCount ? "error" : "ok";
  const shown = Math.min(report.bidders.length, MAX_ROWS);
  const listed =
    total > shown ? ` Listed: the ${shown} highest of ${total} bidders, flagged first.` : "";
  ui.rule.textContent =
    `A bidder is flagged at a score of ${report.threshold.toFixed(2)} or more with at least ` +
    `${report.min_bids} bids. The score weighs six signals of shill bidding from 0 to 1.` +
    listed;
  const rows = report.bidders.slice(0, MAX_ROWS).map((b) => {
    const tr = el("tr");
    tr.dataset.bidder = b.bidder;
    if (b.flagged) tr.classList.add("flagged");
    const name = el("span", b.bidder, { className: "integrity-name" });
    const state = b.flagged
      ? el("span", "Flagged", { className: "integrity-flag" })
      : el("span", "—", { className: "muted" });
    // what raised the score is said for the flagged only: under the threshold it raised nothing
    const raised = b.flagged
      ? featureChips(b.raised_by)
      : el("span", "under the threshold", { className: "muted" });
    tr.append(
      cell("Bidder", name),
      cell("Score", scoreBar(b.score, report.threshold)),
      cell("Flag", state),
      cell("Raised by", raised),
      cell("Bids · lots · wins", el("span", `${b.bids} · ${b.lots} · ${b.wins}`)),
    );
    return tr;
  });
  ui.rows.replaceChildren(...rows);
}

async function tick() {
  timer = null;
  let wait = POLL_IDLE_MS;
  try {
    if (!ui.admin || ui.admin.hidden) {
      ui.card.hidden = true;
      wait = POLL_RUNNING_MS;
      return;
    }
    if (!sales.length || Date.now() - salesAt > SALES_EVERY_MS) {
      sales = (await getJson("/api/sales")).sales;
      salesAt = Date.now();
    }
    const sale = chosen();
    renderPicker(sale);
    ui.card.hidden = false;
    if (!sale) {
      ui.summary.textContent = "No sale has started yet: signals appear once bids arrive.";
      ui.rows.replaceChildren();
      return;
    }
    const report = await getJson(
      `/api/admin/sales/${encodeURIComponent(sale.sale)}/integrity?limit=${MAX_ROWS}`,
    );
    render(report, sale);
    if (sale.state === "running" || sale.state === "paused") wait = POLL_RUNNING_MS;
  } catch (err) {
    ui.summary.textContent = `Integrity signals unavailable: ${err.message}`;
    ui.summary.dataset.kind = "error";
    wait = POLL_RUNNING_MS * 2;
  } finally {
    timer = setTimeout(tick, wait);
  }
}

if (ui.card) {
  ui.pick.addEventListener("change", () => {
    picked = ui.pick.value;
    if (timer) clearTimeout(timer);
    tick();
  });
  tick();
}
