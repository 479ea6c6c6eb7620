// The admin's analytics page (/admin/analytics): a sale's report as big numbers, charts drawn
// with plotly.js (served from the server's installed plotly package) and the per-lot table,
// kept live from the WebSocket feed while the sale runs. Its arithmetic is analytics_model.js
// (pure, tested in node); this module fetches, listens and draws. Every piece of text from
// the server goes in with textContent (or as plotly data, which plotly escapes), never as HTML.

import { Connection } from "./conn.js";
import { bindLogin } from "./login.js";
import { formatMoney, toUnits } from "./money.js";
import {
  MAX_CHART_BIDS,
  RefetchPacer,
  bucketByMinute,
  feedBid,
  fillMinutes,
  keepLatest,
  headlines,
  lotRows,
  outcomeShares,
  percent,
  priceSeries,
  relevance,
} from "./analytics_model.js";

const $ = (id) => document.getElementById(id);
const ui = {
  who: $("who"),
  logout: $("logout"),
  status: $("status"),
  main: $("analytics"),
  pick: $("sale-pick"),
  facts: $("sale-facts"),
  live: $("live"),
  figures: $("figures"),
  price: $("price-chart"),
  priceNote: $("price-note"),
  sell: $("sell-chart"),
  minute: $("minute-chart"),
  estimate: $("estimate-chart"),
  currencyRow: $("currency-row"),
  currencyPick: $("currency-pick"),
  currencyNote: $("currency-note"),
  lots: $("lots"),
  more: $("lots-more"),
  loginForm: $("login-form"),
};

const PAGE = 1_000; // the admin history's largest page: a whole read
const NEWEST = 200; // a read of the newest bids, after a void or a gap in the feed
const READERS = 6; // lots' histories read at once (a browser's connections to one host)
const PLOTLY_URL = "/vendor/plotly.min.js";
const SHOWN_LOTS = 10; // price lines drawn at first; the others one click away in the legend

function say(text, kind = "") {
  ui.status.textContent = text;
  ui.status.dataset.kind = kind;
}

function el(tag, text = "", props = {}) {
  const node = document.createElement(tag);
  if (text !== "") node.textContent = text;
  Object.assign(node, props);
  return node;
}

function cell(label, text, className = "") {
  const td = el("td", text, className ? { className } : {});
  if (label) td.dataset.label = label;
  return td;
}

async function api(path, method = "GET", body) {
  const options = { method, headers: { accept: "application/json" } };
  if (body !== undefined) {
    options.headers["content-type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  let reply = null;
  try {
    reply = await response.json();
  } catch {
    // not JSON
  }
  if (!response.ok) {
    const err = new Error(reply?.message || `HTTP ${response.status}`);
    err.status = response.status;
    throw err;
  }
  return reply;
}

// -- what the page holds -------------------------------------------------------------------------

let me = null;
let sales = []; // the admin listing
let saleId = null;
let lotsById = new Map(); // the picked sale's lots as the listing has them (estimates, state)
let report = null;
let histories = new Map(); // lot -> {bySeq: Map(seq -> bid), truncated}
let historiesRead = false; // whether the picked sale's histories are in (the price chart waits)
let dirty = new Set(); // lots whose history must be read again (a void, a gap in the feed)
let greeting = false; // the snapshots right after a welcome (the full read covers them)
let listingDirty = false;
let generation = 0; // bumped on every sale pick: an answer for the last sale is dropped
const pacer = new RefetchPacer();
let timer = null;
let conn = null;
let welcomes = 0; // on this connection: a second one is a reconnect

function sale() {
  return sales.find((s) => s.sale === saleId) || null;
}

function chooseSale() {
  const wanted = new URLSearchParams(location.hash.slice(1)).get("sale");
  if (wanted && sales.some((s) => s.sale === wanted)) return wanted;
  if (saleId && sales.some((s) => s.sale === saleId)) return saleId;
  const live = sales.find((s) => s.state === "running" || s.state === "paused");
  if (live) return live.sale;
  const begun = sales.filter((s) => s.started_at).sort((a, b) => b.started_at - a.started_at);
  return (begun[0] || sales[0] || {}).sale ?? null;
}

function saleLabel(s) {
  return `${s.title} · ${s.state}`;
}

async function loadSales() {
  const page = await api("/api/admin/sales");
  sales = page.sales;
  saleId = chooseSale();
  ui.pick.replaceChildren(
    ...sales.map((s) => el("option", saleLabel(s), { value: s.sale, selected: s.sale === saleId })),
  );
  ui.pick.disabled = !sales.length;
  const current = sale();
  lotsById = new Map((current?.lots || []).map((lot) => [lot.lot, lot]));
}

// -- reading -------------------------------------------------------------------------------------

/** A lot's history, newest pages first, until it meets what we hold (or the cap). */
async function readHistory(lotId, full) {
  const held = full ? null : histories.get(lotId);
  const bySeq = held ? held.bySeq : new Map();
  const known = held ? Math.max(0, ...bySeq.keys()) : 0;
  let before = null;
  let read = 0;
  let truncated = held ? held.truncated : false;
  for (;;) {
    const size = held ? NEWEST : PAGE;
    const query = before === null ? `?limit=${size}` : `?limit=${size}&before_seq=${before}`;
    const page = await api(`/api/admin/lots/${encodeURIComponent(lotId)}/bids${query}`);
    for (const bid of page.bids) bySeq.set(bid.seq, bid);
    read += page.bids.length;
    before = page.next_before_seq;
    const met = page.bids.some((bid) => bid.seq <= known);
    if (before === null || met) break;
    if (read >= MAX_CHART_BIDS) {
      truncated = true;
      break;
    }
  }
  return { bySeq, truncated };
}

async function readHistories(lotIds, full) {
  const queue = [...lotIds];
  const read = new Map();
  async function reader() {
    while (queue.length) {
      const lotId = queue.shift();
      read.set(lotId, await readHistory(lotId, full));
    }
  }
  await Promise.all(Array.from({ length: Math.min(READERS, queue.length) }, reader));
  return read;
}

async function refresh(full = false) {
  if (!me || !saleId) return;
  clearTimeout(timer);
  timer = null;
  const mine = generation;
  pacer.started(Date.now());
  const wanted = full ? null : new Set(dirty);
  dirty = new Set();
  const relist = listingDirty;
  listingDirty = false;
  try {
    if (relist) await loadSales();
    const fresh = await api(`/api/admin/sales/${encodeURIComponent(saleId)}/report`);
    if (mine !== generation) return;
    report = fresh;
    if (full) {
      histories = new Map();
      historiesRead = false;
      render(); // the figures and the table while the histories are read
    }
    const lotIds = full
      ? fresh.per_lot.filter((row) => row.bids > 0 || row.outcome !== "open").map((row) => row.lot)
      : [...new Set([...wanted, ...fresh.per_lot.filter((row) => row.bids > 0 && !histories.has(row.lot)).map((row) => row.lot)])];
    const read = await readHistories(lotIds, full);
    if (mine !== generation) return;
    for (const [lotId, history] of read) histories.set(lotId, history);
    // every lot of the sale has a history from now on, so the feed's bids go straight in
    for (const row of fresh.per_lot) {
      if (!histories.has(row.lot)) histories.set(row.lot, { bySeq: new Map(), truncated: false });
    }
    historiesRead = true;
    render();
    say("", "");
  } catch (err) {
    if (wanted) for (const lotId of wanted) dirty.add(lotId);
    listingDirty ||= relist;
    say(`The figures could not be read: ${err.message}`, "error");
    if (err.status === 401 || err.status === 403) {
      start();
      return;
    }
  } finally {
    const next = pacer.done(Date.now());
    if (next !== null && mine === generation) timer = setTimeout(() => refresh(false), next);
  }
}

function kick() {
  const delay = pacer.heard(Date.now());
  if (delay !== null) {
    clearTimeout(timer);
    timer = setTimeout(() => refresh(false), delay);
  }
}

function heard(message) {
  if (message.type === "snapshot") {
    // After the welcome, one per open lot: what the full read has. Later, the server's way of
    // catching a connection up after it fell behind: read that lot's history again.
    if (greeting || !lotsById.has(message.lot)) return;
    dirty.add(message.lot);
    kick();
    return;
  }
  greeting = false;
  const saleEvent = message.type === "sale_started" || message.type === "sale_ended";
  if (saleEvent) listingDirty = true;
  const what = relevance(message, saleId, new Set(lotsById.keys()));
  if (!what && !saleEvent) return;
  if (what?.listing) listingDirty = true;
  const fed = feedBid(message);
  const held = what?.lot ? histories.get(what.lot) : undefined;
  if (fed && held) {
    held.bySeq.set(fed.seq, fed); // an admin's feed names the bidder, also in an anonymous sale
    if (keepLatest(held.bySeq)) held.truncated = true; // a day-long lot stays bounded
  } else if (what?.lot && what.bids) {
    dirty.add(what.lot);
  }
  if (message.type === "bid_voided" && Array.isArray(message.voided)) {
    for (const seq of message.voided) {
      const bid = held?.bySeq.get(seq);
      if (bid) bid.voided = true;
    }
  }
  kick();
}

function listen() {
  if (conn) return;
  welcomes = 0;
  conn = new Connection(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  conn.addEventListener("status", (event) => showLive(event.detail.state));
  conn.addEventListener("message", (event) => {
    const message = event.detail;
    if (message.type === "welcome" && message.role !== "admin") return;
    // Back after a drop: what happened meanwhile is read again, whole.
    if (message.type === "welcome") {
      greeting = true;
      welcomes += 1;
      if (welcomes > 1) refresh(true);
      return;
    }
    heard(message);
  });
  conn.start(null); // the cookie says who we are
}

function showLive(state = conn?.state) {
  const s = sale();
  const running = s && (s.state === "running" || s.state === "paused");
  let words;
  if (!s) words = "";
  else if (!running) words = s.state === "ended" ? "The sale has ended: these figures are final." : "The sale has not started: no bids yet.";
  else if (state === "live") words = "Live: the figures follow the bids as they arrive.";
  else words = "Reconnecting to the live feed…";
  ui.live.textContent = words;
  ui.live.dataset.state = running ? (state === "live" ? "live" : "waiting") : "still";
}

// -- drawing -------------------------------------------------------------------------------------

function palette() {
  const css = getComputedStyle(document.documentElement);
  const v = (name) => css.getPropertyValue(name).trim();
  return {
    text: v("--text"),
    muted: v("--muted"),
    line: v("--line"),
    card: v("--card"),
    accent: v("--accent"),
    blue: v("--blue"),
    green: v("--green"),
    amber: v("--amber"),
    red: v("--red"),
    series: [v("--accent"), v("--blue"), v("--green"), v("--red"), v("--amber"), "#b48cff", "#4fd1c5", "#f78fb3", "#9ccc65", "#90a4ae"],
  };
}

function narrow() {
  return window.matchMedia("(max-width: 700px)").matches;
}

function baseLayout(colors, extra = {}) {
  const phone = narrow();
  return {
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    font: { color: colors.text, family: getComputedStyle(document.body).fontFamily, size: phone ? 11 : 12 },
    margin: { t: 10, r: 12, b: phone ? 40 : 48, l: phone ? 48 : 64 },
    hoverlabel: { bgcolor: colors.card, bordercolor: colors.line, font: { color: colors.text } },
    xaxis: { gridcolor: colors.line, linecolor: colors.line, zerolinecolor: colors.line, automargin: true },
    yaxis: { gridcolor: colors.line, linecolor: colors.line, zerolinecolor: colors.line, automargin: true, rangemode: "tozero" },
    showlegend: false,
    ...extra,
  };
}

const CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

// plotly.js loads beside the first figures (its 4.8 MB take a while to parse): the headline
// figures and the table show first, the charts as soon as it is there.
let plotlyState = "loading"; // "ready" | "failed"

function loadPlotly() {
  if (document.querySelector(`script[src="${PLOTLY_URL}"]`)) return; // asked for already
  if (window.Plotly) {
    plotlyState = "ready";
    return;
  }
  const script = document.createElement("script");
  script.src = PLOTLY_URL;
  script.async = true;
  script.addEventListener("load", () => {
    plotlyState = window.Plotly ? "ready" : "failed";
    render();
  });
  script.addEventListener("error", () => {
    plotlyState = "failed";
    render();
  });
  document.head.append(script);
}

function plotly() {
  return plotlyState === "ready" ? window.Plotly : null;
}

function empty(container, words) {
  const Plotly = plotly();
  if (Plotly && container.classList.contains("js-plotly-plot")) Plotly.purge(container);
  container.replaceChildren(el("p", words, { className: "analytics-empty muted" }));
  container.dataset.points = "0";
}

function draw(container, traces, layout, points) {
  const Plotly = plotly();
  if (!Plotly) return;
  // a message in the box (no bids yet, reading) goes; plotly then draws afresh after a purge
  if (container.querySelector(":scope > .analytics-empty")) container.replaceChildren();
  Plotly.react(container, traces, layout, CONFIG);
  container.dataset.points = String(points);
}

function units(minor, currency) {
  return toUnits(minor, currency);
}

function currencyOf() {
  return report.currency || chartCurrency;
}

// A sale in several currencies: one axis cannot hold 100 USD and 15,000 JPY, so the money
// charts (price over time, hammer against estimate) draw one currency at a time, picked here.
let chartCurrency = null;

/** [currency, lots] of the sale's lots, the most lots first (then as the catalog has them). */
function lotCurrencies() {
  const counts = new Map();
  for (const row of report.per_lot) counts.set(row.currency, (counts.get(row.currency) || 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]);
}

function renderCurrencies() {
  const currencies = lotCurrencies();
  ui.currencyRow.hidden = currencies.length < 2;
  if (currencies.length < 2) {
    chartCurrency = null;
    return;
  }
  if (!currencies.some(([c]) => c === chartCurrency)) chartCurrency = currencies[0][0];
  const options = currencies.map(([c, n]) => {
    const option = el("option", `${c} (${n} lot${n === 1 ? "" : "s"})`, { value: c });
    option.selected = c === chartCurrency;
    return option;
  });
  ui.currencyPick.replaceChildren(...options);
  const others = currencies.filter(([c]) => c !== chartCurrency).map(([c]) => c).join(", ");
  ui.currencyNote.textContent = `This sale is in ${currencies.length} currencies; the ${others} lots are a pick away.`;
}

/** The rows a money chart draws: those in the picked currency when the sale has several. */
function inChartCurrency(rows) {
  return chartCurrency ? rows.filter((row) => row.currency === chartCurrency) : rows;
}

function moneyAxis(title) {
  return { title: { text: title, standoff: 6 } };
}

function drawPrice(colors) {
  const rows = inChartCurrency(report.per_lot);
  const withBids = rows
    .map((row) => ({ row, series: priceSeries([...(histories.get(row.lot)?.bySeq.values() || [])]) }))
    .filter(({ series }) => series.ts.length);
  const truncated = rows.filter((row) => histories.get(row.lot)?.truncated).map((row) => row.title);
  ui.priceNote.textContent =
    "Standing bids; voided ones left out, automatic ones as open circles." +
    (withBids.length > 1 ? " Click a lot in the legend to hide or show it." : "") +
    (truncated.length ? ` Only the latest ${MAX_CHART_BIDS.toLocaleString("en-US")} bids of ${truncated.join(", ")} are drawn.` : "");
  if (!withBids.length) {
    empty(ui.price, "No bids yet.");
    return;
  }
  const busiest = new Set(
    [...withBids].sort((a, b) => b.series.ts.length - a.series.ts.length).slice(0, SHOWN_LOTS).map(({ row }) => row.lot),
  );
  const traces = withBids.map(({ row, series }, i) => ({
    type: "scatter",
    mode: "lines+markers",
    name: row.title,
    x: series.ts.map((ts) => new Date(ts)),
    y: series.amount.map((a) => units(a, row.currency)),
    customdata: series.amount.map((a, j) => [formatMoney(a, row.currency), series.bidder[j], series.auto[j] ? " (automatic)" : ""]),
    hovertemplate: `<b>%{fullData.name}</b><br>%{customdata[0]} by %{customdata[1]}%{customdata[2]}<br>%{x|%H:%M:%S}<extra></extra>`,
    line: { shape: "hv", width: 2, color: colors.series[i % colors.series.length] },
    marker: { size: 7, symbol: series.auto.map((a) => (a ? "circle-open" : "circle")), color: colors.series[i % colors.series.length] },
    visible: busiest.has(row.lot) ? true : "legendonly",
  }));
  const currency = currencyOf();
  const phone = narrow();
  const layout = baseLayout(colors, {
    // on a phone the legend goes under the plot: a taller chart keeps the plot its size
    height: phone ? (withBids.length > 3 ? 470 : 340) : 380,
    showlegend: withBids.length > 1,
    legend: phone
      ? { orientation: "h", y: -0.25, x: 0, font: { size: 11 } }
      : { orientation: "v", x: 1.02, y: 1, font: { size: 12 } },
    yaxis: { ...baseLayout(colors).yaxis, rangemode: "normal", ...moneyAxis(currency ? `Price (${currency})` : "Price (each lot's currency)") },
    xaxis: { ...baseLayout(colors).xaxis, type: "date" },
  });
  draw(ui.price, traces, layout, traces.reduce((n, t) => n + t.x.length, 0));
}

const OUTCOME_COLOURS = (c) => ({
  hammer: c.green,
  buy_now: c.blue,
  reserve_not_met: c.amber,
  no_bids: c.muted,
  withdrawn: c.red,
  open: c.line,
});

function drawSell(colors) {
  const shares = outcomeShares(report);
  if (!shares.length) {
    empty(ui.sell, "This sale has no lots.");
    return;
  }
  const tint = OUTCOME_COLOURS(colors);
  const phone = narrow();
  const traces = [
    {
      type: "pie",
      hole: 0.62,
      sort: false,
      direction: "clockwise",
      labels: shares.map((s) => s.label),
      values: shares.map((s) => s.count),
      marker: { colors: shares.map((s) => tint[s.key]), line: { color: colors.card, width: 2 } },
      textinfo: "value",
      textfont: { color: colors.text },
      hovertemplate: "%{label}: %{value} lot(s), %{percent}<extra></extra>",
    },
  ];
  const layout = baseLayout(colors, {
    height: phone ? 300 : 300,
    margin: { t: 10, r: 10, b: 10, l: 10 },
    showlegend: true,
    legend: phone ? { orientation: "h", y: -0.05, x: 0 } : { orientation: "v", x: 1, y: 0.5 },
    annotations: [
      {
        text: `<b>${percent(report.sell_through_lots)}</b><br>sold`,
        showarrow: false,
        font: { size: phone ? 18 : 22, color: colors.text },
        x: 0.5,
        y: 0.5,
        xref: "paper",
        yref: "paper",
        xanchor: "center",
      },
    ],
  });
  if (!phone) layout.annotations[0].x = 0.5;
  draw(ui.sell, traces, layout, shares.length);
}

function drawMinutes(colors) {
  const fromReport = Array.isArray(report.bids_per_minute);
  const sparse = fromReport
    ? report.bids_per_minute
    : bucketByMinute([...histories.values()].flatMap((h) => [...h.bySeq.values()]));
  const { width, buckets } = fillMinutes(sparse);
  if (!buckets.length) {
    empty(ui.minute, "No bids yet.");
    return;
  }
  const per = width / 60_000;
  const traces = [
    {
      type: "bar",
      x: buckets.map((b) => new Date(b.minute + width / 2)),
      y: buckets.map((b) => b.bids),
      width: width * 0.9,
      marker: { color: colors.accent },
      customdata: buckets.map((b) => new Date(b.minute).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })),
      hovertemplate: `%{y} bid(s) from %{customdata}${per > 1 ? ` (${per} min)` : ""}<extra></extra>`,
    },
  ];
  const layout = baseLayout(colors, {
    height: 300,
    bargap: 0.1,
    xaxis: { ...baseLayout(colors).xaxis, type: "date" },
    yaxis: {
      ...baseLayout(colors).yaxis,
      title: { text: per > 1 ? `Bids per ${per} minutes` : "Bids per minute", standoff: 6 },
      tickformat: "d", // whole bids: no 0.5 ticks on a quiet sale
      dtick: Math.max(...buckets.map((b) => b.bids)) <= 5 ? 1 : undefined,
    },
  });
  draw(ui.minute, traces, layout, buckets.length);
}

function shortTitle(title) {
  return title.length > 22 ? `${title.slice(0, 21)}…` : title;
}

function drawEstimate(colors, allRows) {
  const shown = inChartCurrency(allRows).filter((r) => r.estimate_low !== null || r.estimate_high !== null || r.hammer !== null);
  if (!shown.length) {
    empty(ui.estimate, "No lot has an estimate or a hammer yet.");
    return;
  }
  // every lot's name where they fit, else every n-th (the hover names each lot)
  const room = Math.max(4, Math.floor((ui.estimate.clientWidth || 600) / (narrow() ? 70 : 60)));
  const step = Math.ceil(shown.length / room);
  const labelled = shown.filter((_, i) => i % step === 0);
  const x = labelled.map((r) => r.lot);
  const ticktext = labelled.map((r) => shortTitle(r.title));
  const both = shown.filter((r) => r.estimate_low !== null && r.estimate_high !== null);
  const one = shown.filter((r) => (r.estimate_low === null) !== (r.estimate_high === null));
  const sold = shown.filter((r) => r.hammer !== null);
  const bandTint = { below: colors.red, within: colors.green, above: colors.blue };
  const traces = [
    {
      type: "bar",
      name: "Estimate",
      x: both.map((r) => r.lot),
      base: both.map((r) => units(r.estimate_low, r.currency)),
      y: both.map((r) => units(r.estimate_high - r.estimate_low, r.currency)),
      marker: { color: colors.muted, opacity: 0.28, line: { color: colors.muted, width: 1 } },
      customdata: both.map((r) => [`${formatMoney(r.estimate_low, r.currency)} – ${formatMoney(r.estimate_high, r.currency)}`, r.title]),
      hovertemplate: "<b>%{customdata[1]}</b><br>estimate %{customdata[0]}<extra></extra>",
      width: 0.6,
    },
    {
      type: "scatter",
      mode: "markers",
      name: "Estimate (one bound)",
      x: one.map((r) => r.lot),
      y: one.map((r) => units(r.estimate_low ?? r.estimate_high, r.currency)),
      marker: { symbol: "line-ew-open", size: 22, line: { width: 2, color: colors.muted } },
      customdata: one.map((r) => [r.estimate_low !== null ? `from ${formatMoney(r.estimate_low, r.currency)}` : `up to ${formatMoney(r.estimate_high, r.currency)}`, r.title]),
      hovertemplate: "<b>%{customdata[1]}</b><br>estimate %{customdata[0]}<extra></extra>",
    },
    {
      type: "scatter",
      mode: "markers",
      name: "Hammer",
      x: sold.map((r) => r.lot),
      y: sold.map((r) => units(r.hammer, r.currency)),
      marker: {
        size: 12,
        symbol: "diamond",
        color: sold.map((r) => bandTint[r.band] || colors.accent),
        line: { color: colors.card, width: 1 },
      },
      customdata: sold.map((r) => [formatMoney(r.hammer, r.currency), r.band ? `${r.band} the estimate` : "no estimate", r.title]),
      hovertemplate: "<b>%{customdata[2]}</b><br>hammer %{customdata[0]}, %{customdata[1]}<extra></extra>",
    },
  ];
  const currency = currencyOf();
  const layout = baseLayout(colors, {
    height: narrow() ? 320 : 340,
    barmode: "overlay",
    xaxis: {
      ...baseLayout(colors).xaxis,
      type: "category",
      categoryarray: shown.map((r) => r.lot),
      tickvals: x,
      ticktext,
      tickangle: labelled.length > 6 || narrow() ? -35 : 0,
    },
    yaxis: { ...baseLayout(colors).yaxis, ...moneyAxis(currency ? `Amount (${currency})` : "Amount (each lot's currency)") },
  });
  draw(ui.estimate, traces, layout, sold.length + both.length + one.length);
}

function renderFigures() {
  ui.figures.replaceChildren(
    ...headlines(report).map((figure) => {
      const box = el("div", "", { className: "analytics-figure" });
      box.dataset.key = figure.key;
      const number = el("dd", figure.value, { className: "analytics-number" });
      if (figure.value.length > 9) number.dataset.long = "";
      box.append(el("dt", figure.label), number);
      if (figure.note) box.append(el("dd", figure.note, { className: "analytics-note muted" }));
      return box;
    }),
  );
}

function estimateText(row) {
  const low = row.estimate_low;
  const high = row.estimate_high;
  if (low === null && high === null) return "—";
  const range =
    low !== null && high !== null
      ? `${formatMoney(low, row.currency)} – ${formatMoney(high, row.currency)}`
      : low !== null
        ? `from ${formatMoney(low, row.currency)}`
        : `up to ${formatMoney(high, row.currency)}`;
  return row.band ? `${range} · ${row.band}` : range;
}

const TABLE_ROWS = 25; // lots listed before "Show all"
let allLots = false;

function renderLots(rows) {
  const listed = allLots ? rows : rows.slice(0, TABLE_ROWS);
  ui.lots.replaceChildren(
    ...listed.map((row) => {
      const tr = el("tr");
      tr.dataset.lot = row.lot;
      tr.dataset.outcome = row.outcome;
      const name = el("td", "", { className: "admin-lot-name" });
      name.append(el("strong", row.title), el("br"), el("small", row.lot, { className: "muted" }));
      const outcome = cell("Outcome", row.words, `outcome outcome-${row.reason || row.outcome}`);
      const estimate = cell("Estimate", estimateText(row));
      if (row.band) estimate.dataset.band = row.band;
      tr.append(
        name,
        outcome,
        cell("Winner", row.winner || "—"),
        cell("Hammer", row.hammer === null ? "—" : formatMoney(row.hammer, row.currency), "num"),
        estimate,
        cell("Bids", String(row.bids), "num"),
        cell("Bidders", String(row.bidders), "num"),
        cell("Extensions", String(row.extensions), "num"),
      );
      return tr;
    }),
  );
  if (!rows.length) {
    const tr = el("tr");
    tr.append(el("td", "This sale has no lots.", { colSpan: 8 }));
    ui.lots.append(tr);
  }
  ui.more.hidden = listed.length === rows.length;
  ui.more.textContent = `Show all ${rows.length} lots`;
}

ui.more.addEventListener("click", () => {
  allLots = true;
  render();
});

function renderFacts() {
  const s = sale();
  if (!s || !report) return;
  const when = new Date(report.ts).toLocaleTimeString();
  const facts = [s.mode === "live" ? "live sale" : "timed sale", `${report.lots} lot${report.lots === 1 ? "" : "s"}`];
  if (s.started_at) facts.push(`started ${new Date(s.started_at).toLocaleString()}`);
  if (s.ended_at) facts.push(`ended ${new Date(s.ended_at).toLocaleString()}`);
  facts.push(`figures as of ${when}`);
  ui.facts.textContent = facts.join(" · ");
}

let renders = 0;

function render() {
  if (!report) return;
  const rows = lotRows(report, lotsById);
  renderFacts();
  renderCurrencies();
  showLive();
  renderFigures();
  renderLots(rows);
  const charts = [ui.price, ui.sell, ui.minute, ui.estimate];
  if (plotlyState === "failed") {
    for (const box of charts) {
      empty(box, "The charts cannot be drawn: this server could not send plotly.js (see the server's log).");
    }
  } else if (plotlyState === "loading") {
    for (const box of charts) if (!box.dataset.points) empty(box, "Drawing the chart…");
  } else {
    const colors = palette();
    drawSell(colors);
    drawEstimate(colors, rows);
    if (historiesRead || Array.isArray(report.bids_per_minute)) drawMinutes(colors);
    else empty(ui.minute, "Reading the bids…");
    if (historiesRead) drawPrice(colors);
    else empty(ui.price, "Reading the bids…");
  }
  renders += 1;
  // for tests and the curious: a render with every chart drawn, and the bids it shows
  if (plotlyState !== "loading" && historiesRead) {
    ui.main.dataset.renders = String(renders);
    ui.main.dataset.bids = String(report.bids);
  }
}

// -- who is here ---------------------------------------------------------------------------------

async function pick(id) {
  saleId = id;
  generation += 1;
  report = null;
  histories = new Map();
  historiesRead = false;
  allLots = false;
  dirty = new Set();
  history.replaceState(null, "", `#sale=${encodeURIComponent(id)}`);
  const s = sale();
  lotsById = new Map((s?.lots || []).map((lot) => [lot.lot, lot]));
  await refresh(true);
}

ui.pick.addEventListener("change", () => pick(ui.pick.value));
ui.currencyPick.addEventListener("change", () => {
  chartCurrency = ui.currencyPick.value;
  render();
});

async function start() {
  let info = null;
  try {
    info = await api("/api/info");
  } catch {
    say("Cannot reach the server.", "error");
    return;
  }
  me = info.me;
  ui.who.textContent = me ? `${me.user} (${me.role})` : "";
  ui.logout.hidden = !me;
  if (!me || me.role !== "admin") {
    me = null;
    conn?.stop();
    conn = null;
    report = null;
    ui.main.hidden = true;
    ui.loginForm.hidden = false;
    if (info.me) say(`${info.me.user} is not an administrator; log in as one to see the figures.`, "error");
    ui.loginForm.elements.username.focus();
    return;
  }
  ui.loginForm.hidden = true;
  ui.main.hidden = false;
  if (plotlyState === "loading") loadPlotly();
  try {
    await loadSales();
  } catch (err) {
    say(`The sales could not be read: ${err.message}`, "error");
    return;
  }
  if (!saleId) {
    say("There are no sales yet: build one on the administration page.", "");
    return;
  }
  listen();
  await pick(saleId);
}

bindLogin({
  form: ui.loginForm,
  logout: ui.logout,
  say,
  login: async (username, password) => {
    await api("/api/login", "POST", { username, password });
    conn?.stop();
    conn = null; // the new cookie needs a new handshake
  },
  start,
});

// A new theme (the system's) or width redraws the charts in its colours and layout.
window.matchMedia("(prefers-color-scheme: light)").addEventListener("change", render);
window.matchMedia("(max-width: 700px)").addEventListener("change", render);

start();
