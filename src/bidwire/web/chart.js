// The price-over-time chart, drawn as SVG by hand: no charting library, no build step.

import { formatMoney, formatTick } from "./money.js";

const M = { top: 14, right: 14, bottom: 26, left: 58 };
const SVG_NS = "http://www.w3.org/2000/svg";

function niceStep(span, count) {
  const raw = span / Math.max(count, 1);
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = [1, 2, 2.5, 5, 10].find((m) => m * power >= raw) ?? 10;
  return unit * power;
}

function clockLabel(ts) {
  return new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function el(name, attrs = {}, text = null) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== null) node.textContent = text;
  return node;
}

/**
 * bids: oldest first, each {amount, bidder, ts}; from/to: the time span (server ms);
 * me: our name, to pick out our own bids.
 */
export function drawChart(container, { bids, currency, startingPrice, from, to, me, closed }) {
  // Drawn at the container's own pixel size, so labels stay legible at any width.
  const W = Math.max(240, Math.round(container.clientWidth || 640));
  const H = Math.round(Math.min(260, Math.max(170, W * 0.5)));
  const svg = el("svg", {
    width: W,
    height: H,
    viewBox: `0 0 ${W} ${H}`,
    role: "img",
    "aria-label": bids.length
      ? `Price rose from ${formatMoney(bids[0].amount, currency)} to ${formatMoney(
          bids[bids.length - 1].amount,
          currency,
        )} over ${bids.length} bid${bids.length === 1 ? "" : "s"}.`
      : "No bids yet.",
  });
  const defs = el("defs");
  const gradient = el("linearGradient", { id: "chart-fill", x1: 0, y1: 0, x2: 0, y2: 1 });
  gradient.append(
    el("stop", { offset: "0%", style: "stop-color: var(--accent); stop-opacity: 0.35" }),
    el("stop", { offset: "100%", style: "stop-color: var(--accent); stop-opacity: 0" }),
  );
  defs.append(gradient);
  svg.append(defs);

  const amounts = bids.map((b) => b.amount);
  let lo = Math.min(startingPrice, ...amounts);
  let hi = Math.max(startingPrice, ...amounts);
  if (hi === lo) hi = lo + Math.max(1, Math.round(lo * 0.2));
  const pad = (hi - lo) * 0.12;
  lo = Math.max(0, lo - pad);
  hi += pad;
  const step = Math.max(1, Math.round(niceStep(hi - lo, 4))); // whole minor units
  lo = Math.floor(lo / step) * step;
  hi = Math.ceil(hi / step) * step;

  const t0 = Math.min(from, bids.length ? bids[0].ts : from);
  const t1 = Math.max(to, t0 + 1000, bids.length ? bids[bids.length - 1].ts : t0);
  const x = (t) => M.left + ((t - t0) / (t1 - t0)) * (W - M.left - M.right);
  const y = (v) => H - M.bottom - ((v - lo) / (hi - lo)) * (H - M.top - M.bottom);

  const grid = el("g", { class: "chart-grid" });
  for (let v = lo; v <= hi + step / 2; v += step) {
    grid.append(el("line", { x1: M.left, x2: W - M.right, y1: y(v), y2: y(v) }));
    grid.append(
      el("text", { x: M.left - 8, y: y(v) + 4, "text-anchor": "end" }, formatTick(v, currency, step)),
    );
  }
  grid.append(el("text", { x: M.left, y: H - 8, "text-anchor": "start" }, clockLabel(t0)));
  grid.append(el("text", { x: W - M.right, y: H - 8, "text-anchor": "end" }, closed ? clockLabel(t1) : "now"));
  svg.append(grid);

  svg.append(
    el("line", {
      class: "chart-start",
      x1: M.left,
      x2: W - M.right,
      y1: y(startingPrice),
      y2: y(startingPrice),
    }),
  );

  if (!bids.length) {
    svg.append(
      el(
        "text",
        { class: "chart-empty", x: (W + M.left - M.right) / 2, y: y(startingPrice) - 10, "text-anchor": "middle" },
        `No bids yet · opens at ${formatMoney(startingPrice, currency)}`,
      ),
    );
  } else {
    let d = `M ${x(bids[0].ts)} ${y(bids[0].amount)}`;
    for (let i = 1; i < bids.length; i += 1) {
      d += ` H ${x(bids[i].ts)} V ${y(bids[i].amount)}`;
    }
    d += ` H ${x(t1)}`;
    const area = `${d} V ${y(lo)} H ${x(bids[0].ts)} Z`;
    svg.append(el("path", { class: "chart-area", d: area, fill: "url(#chart-fill)" }));
    svg.append(el("path", { class: "chart-line", d }));
    bids.forEach((bid, i) => {
      const mine = bid.bidder === me;
      const dot = el("circle", {
        class: `chart-dot${mine ? " mine" : ""}${i === bids.length - 1 ? " last" : ""}`,
        cx: x(bid.ts),
        cy: y(bid.amount),
        r: i === bids.length - 1 ? 5.5 : 3.5,
      });
      dot.append(el("title", {}, `${formatMoney(bid.amount, currency)} by ${bid.bidder} at ${clockLabel(bid.ts)}`));
      svg.append(dot);
    });
  }
  container.replaceChildren(svg);
}
