// The admin page: sales and lots, every bid with its bidder, users, the audit log.
// Plain ES module like the saleroom. Every piece of text from the server goes in with
// textContent, never as HTML, so a lot called "<script>..." is shown, not run.

import { bindLogin } from "./login.js";
import { formatMoney, inputValue, parseAmount } from "./money.js";

const $ = (id) => document.getElementById(id);
const ui = {
  who: $("who"),
  logout: $("logout"),
  status: $("status"),
  admin: $("admin"),
  sales: $("sales"),
  bidsCard: $("bids-card"),
  bidsLot: $("bids-lot"),
  bids: $("bids"),
  createForm: $("create-form"),
  importForm: $("import-form"),
  problems: $("problems"),
  users: $("users"),
  audit: $("audit"),
  loginForm: $("login-form"),
};

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

function when(ts) {
  return ts ? new Date(ts).toLocaleString() : "";
}

/** A table cell; ``label`` names it when a narrow screen stacks the row (admin.css). */
function cell(label, ...children) {
  const td = el("td");
  if (label) td.dataset.label = label;
  td.append(...children);
  return td;
}

/** Ask before what cannot be undone: ``question`` says what will happen, in words. */
function sure(question) {
  return window.confirm(question);
}

function quoted(title) {
  return `\u201c${title}\u201d`;
}

function lotsWord(n) {
  return n === 1 ? "1 lot" : `${n} lots`;
}

/** Call the API; throws an Error carrying the server's own message (and problems). */
async function api(method, path, body, contentType = "application/json") {
  const options = { method, headers: { accept: "application/json" } };
  if (body !== undefined) {
    options.headers["content-type"] = contentType;
    options.body = contentType === "application/json" ? JSON.stringify(body) : body;
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
    err.problems = reply?.problems || [];
    throw err;
  }
  return reply;
}

async function act(label, work) {
  try {
    const told = await work();
    say(typeof told === "string" ? told : `${label}: done.`, "ok");
  } catch (err) {
    say(`${label}: ${err.message}`, "error");
  }
  await refresh();
}

// -- sales and lots ------------------------------------------------------------------------------

const SALE_ACTIONS = {
  held: ["start", "cancel"],
  scheduled: ["start", "cancel"],
  running: ["pause", "cancel"],
  paused: ["resume", "cancel"],
  ended: [],
};

const SALE_QUESTIONS = {
  cancel: (sale) => {
    const left = sale.lots.filter((lot) => lot.state !== "closed").length;
    return (
      `Cancel the sale ${quoted(sale.title)}? ` +
      (left
        ? `Its ${lotsWord(left)} not yet closed close unsold at once, whatever their bids, and every bidder is told. `
        : "") +
      "This cannot be undone."
    );
  },
};

// Forms open inside the sales list (a lot's edit, a sale's new lot) are kept across the
// refresh every few seconds, typing and all: keyed by what they edit.
const openForms = new Map();

function keepOpen(key, form, place) {
  form.dataset.key = key;
  openForms.set(key, { form, place });
}

function closeForm(key) {
  const open = openForms.get(key);
  if (open) open.form.closest(".admin-inline")?.remove();
  openForms.delete(key);
}

function renderSales(sales) {
  const blocks = sales.map((sale) => {
    const box = el("section", "", { className: "admin-sale" });
    box.dataset.sale = sale.sale;
    box.append(el("h3", sale.title));
    const facts = [sale.sale, sale.mode, sale.state];
    if (sale.state === "scheduled" && sale.starts_at) facts.push(`starts ${when(sale.starts_at)}`);
    box.append(el("p", facts.join(" · "), { className: "muted admin-sale-facts" }));
    const actions = el("div", "", { className: "admin-actions" });
    for (const op of SALE_ACTIONS[sale.state] || []) {
      const button = el("button", `${op[0].toUpperCase()}${op.slice(1)} sale`, { type: "button" });
      button.dataset.op = op;
      if (op === "cancel") button.classList.add("danger");
      button.addEventListener("click", () => {
        const ask = SALE_QUESTIONS[op];
        if (ask && !sure(ask(sale))) return;
        act(`${op} ${sale.title}`, () => api("POST", `/api/admin/sales/${encodeURIComponent(sale.sale)}/${op}`));
      });
      actions.append(button);
    }
    if (sale.state !== "ended") {
      const add = el("button", "Add lots", { type: "button" });
      add.dataset.op = "add-lots";
      add.addEventListener("click", () => addLots(box, sale));
      actions.append(add);
    }
    box.append(actions);
    const table = el("table", "", { className: "admin-table admin-lots" });
    const head = el("tr");
    for (const name of ["Lot", "Description", "State", "High bid"]) head.append(el("th", name, { scope: "col" }));
    head.append(el("th", "", { scope: "col" }));
    head.lastChild.append(el("span", "Actions", { className: "visually-hidden" }));
    table.append(el("thead"));
    table.tHead.append(head);
    const body = el("tbody");
    for (const lot of sale.lots) body.append(lotRow(lot, sale));
    table.append(body);
    box.append(table);
    return box;
  });
  if (!blocks.length) blocks.push(el("p", "No sales yet.", { className: "muted" }));
  ui.sales.replaceChildren(...blocks);
  // the forms that were open go back where they were, as they were, while they still apply
  // (a lot that has opened is no longer edited, a sale that has ended takes no lots)
  const still = new Set([
    ...sales.flatMap((sale) => sale.lots.filter((lot) => lot.state === "scheduled").map((lot) => `edit-${lot.lot}`)),
    ...sales.filter((sale) => sale.state !== "ended").map((sale) => `add-${sale.sale}`),
  ]);
  for (const [key, { form, place }] of openForms) {
    if (!still.has(key) || !place()) openForms.delete(key);
    else place().after(form.closest(".admin-inline"));
  }
}

function lotRow(lot, sale) {
  const row = el("tr");
  row.dataset.lot = lot.lot;
  const title = el("td", "", { className: "admin-lot-name" });
  title.append(el("strong", lot.title, { className: "lot-title-cell" }), el("br"), el("small", lot.lot, { className: "muted" }));
  const description = cell("Description", el("span", lot.description, { className: "lot-description-cell" }));
  const high = lot.high_bid
    ? `${formatMoney(lot.high_bid.amount, lot.currency)} by ${lot.high_bid.bidder}`
    : `from ${formatMoney(lot.starting_price, lot.currency)}`;
  const extras = [];
  if (lot.buy_now !== null && lot.buy_now !== undefined) extras.push(`buy now ${formatMoney(lot.buy_now, lot.currency)}`);
  if (lot.reserve) extras.push(lot.reserve_met ? "reserve met" : "reserve not met");
  const highCell = cell("High bid", high);
  if (extras.length) highCell.append(el("br"), el("small", extras.join(" · "), { className: "muted" }));
  const actions = el("td", "", { className: "admin-row-actions" });
  const bids = el("button", "Bids", { type: "button" });
  bids.addEventListener("click", () => showBids(lot));
  actions.append(bids);
  if (lot.state === "scheduled") {
    const edit = el("button", "Edit", { type: "button" });
    edit.addEventListener("click", () => editLot(lot));
    actions.append(edit);
  }
  if (lot.state !== "closed") {
    const withdraw = el("button", "Withdraw", { type: "button", className: "danger" });
    withdraw.addEventListener("click", () => {
      const standing = lot.high_bid
        ? ` It stands at ${formatMoney(lot.high_bid.amount, lot.currency)} by ${lot.high_bid.bidder}; that bid will not win.`
        : "";
      const question =
        `Withdraw ${quoted(lot.title)} from ${quoted(sale.title)}? ` +
        `It closes unsold at once, whatever its bids, and bidders are told.${standing} This cannot be undone.`;
      if (!sure(question)) return;
      act(`withdraw ${lot.title}`, () => api("POST", `/api/admin/lots/${encodeURIComponent(lot.lot)}/withdraw`));
    });
    actions.append(withdraw);
  }
  const state = lot.outcome ? `${lot.state} (${lot.outcome})` : lot.state;
  row.append(title, description, cell("State", state), highCell, actions);
  return row;
}

/** A form in a row of its own under ``after`` (a lot's row), or under a sale's buttons. */
function inlineForm(key, place, legend) {
  closeForm(key);
  const form = el("form", "", { className: "admin-form admin-inline-form" });
  form.append(el("h4", legend));
  const holder = place().tagName === "TR" ? el("tr", "", { className: "admin-inline" }) : el("div", "", { className: "admin-inline" });
  if (holder.tagName === "TR") {
    const td = el("td", "", { colSpan: 5 });
    td.append(form);
    holder.append(td);
  } else {
    holder.append(form);
  }
  place().after(holder);
  keepOpen(key, form, place);
  return form;
}

function field(form, key, name, label, value = "", { textarea = false, decimal = false, hint = "" } = {}) {
  const id = `${key}-${name}`;
  form.append(el("label", label, { htmlFor: id }));
  const input = el(textarea ? "textarea" : "input", "", { id, name, value });
  if (textarea) input.rows = 3;
  if (decimal) input.inputMode = "decimal";
  if (hint) {
    const hintId = `${id}-hint`;
    input.setAttribute("aria-describedby", hintId);
    form.append(input, el("small", hint, { id: hintId, className: "hint" }));
  } else {
    form.append(input);
  }
  return input;
}

const RESERVE_HINT = "Optional: below it the lot does not sell. Bidders see only whether it is met.";
const INCREMENT_HINT =
  "Empty: the house table. A fixed step, e.g. 10; or steps by price, e.g. 0:5, 100:10, 1000:50.";
const BUY_NOW_HINT = "Optional: a price that sells the lot at once, offered until the first bid.";

/** Increment as typed: "" (the house table), "10", or "0:5, 100:10" (from:step tiers). */
function readIncrement(text, currency) {
  const typed = text.trim();
  if (!typed) return null;
  if (!typed.includes(":")) {
    parseAmount(typed, currency);
    return typed;
  }
  return typed.split(/[,;]\s*|\s+(?=\d)/).filter(Boolean).map((pair) => {
    const [from, step] = pair.split(":").map((part) => part.trim());
    if (!from || !step) throw new Error(`write each step as from:step, e.g. 100:10 (not ${JSON.stringify(pair)})`);
    if (!/^0+(\.0+)?$/.test(from)) parseAmount(from, currency); // the first step starts at 0
    parseAmount(step, currency);
    return [from, step];
  });
}

function showIncrement(increment, currency) {
  if (increment === null || increment === undefined) return "";
  if (typeof increment === "number") return inputValue(increment, currency);
  return increment.map(([from, step]) => `${inputValue(from, currency)}:${inputValue(step, currency)}`).join(", ");
}

/** Money fields of a lot form, checked here first so an unclear amount is refused in words. */
function lotRowOf(data, currency, names) {
  const row = {};
  for (const name of names) {
    const text = String(data[name] ?? "").trim();
    if (name === "increment") {
      row.increment = readIncrement(text, currency);
      continue;
    }
    if (text) parseAmount(text, currency);
    row[name] = text || null;
  }
  return row;
}

async function editLot(lot) {
  const key = `edit-${lot.lot}`;
  const place = () => ui.sales.querySelector(`tr[data-lot="${CSS.escape(lot.lot)}"]`);
  let spec;
  try {
    spec = await api("GET", `/api/admin/lots/${encodeURIComponent(lot.lot)}`);
  } catch (err) {
    say(`edit ${lot.title}: ${err.message}`, "error");
    return;
  }
  if (!spec.editable) {
    say(`${lot.title} has opened; only lots not yet open can be edited.`, "error");
    return;
  }
  const form = inlineForm(key, place, `Edit ${lot.title}`);
  const cur = spec.currency;
  const money = (minor) => (minor === null || minor === undefined ? "" : inputValue(minor, cur));
  field(form, key, "title", "Title", spec.title);
  field(form, key, "description", "Description", spec.description, { textarea: true });
  field(form, key, "starting_price", "Starting price", money(spec.starting_price), { decimal: true });
  field(form, key, "reserve", "Reserve", money(spec.reserve), { decimal: true, hint: RESERVE_HINT });
  field(form, key, "increment", "Increment", showIncrement(spec.increment, cur), { hint: INCREMENT_HINT });
  field(form, key, "buy_now", "Buy-now price", money(spec.buy_now), { decimal: true, hint: BUY_NOW_HINT });
  field(form, key, "currency", "Currency", cur);
  for (const input of form.querySelectorAll("input, textarea")) input.dataset.testid = `edit-${input.name}`;
  const buttons = el("div", "", { className: "admin-actions" });
  const cancel = el("button", "Close", { type: "button" });
  cancel.addEventListener("click", () => closeForm(key));
  buttons.append(el("button", "Save", { type: "submit", className: "bid-button" }), cancel);
  form.append(buttons);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    const currency = (data.currency || cur).trim().toUpperCase();
    let body;
    try {
      body = {
        title: data.title,
        description: data.description,
        currency,
        ...lotRowOf(data, currency, ["starting_price", "reserve", "increment", "buy_now"]),
      };
    } catch (err) {
      say(`edit ${lot.title}: ${err.message}`, "error");
      return;
    }
    act(`edit ${lot.title}`, async () => {
      await api("PUT", `/api/admin/lots/${encodeURIComponent(lot.lot)}`, body);
      closeForm(key);
    });
  });
  form.querySelector("input").focus();
}

function addLots(box, sale) {
  const key = `add-${sale.sale}`;
  const place = () => ui.sales.querySelector(`[data-sale="${CSS.escape(sale.sale)}"] .admin-actions`);
  const where =
    sale.state === "running" || sale.state === "paused"
      ? sale.mode === "live"
        ? "It comes up after the sale's last lot."
        : "It opens at once, beside the others."
      : "It waits with the others for the sale to start.";
  const form = inlineForm(key, place, `Add a lot to ${sale.title}`);
  form.dataset.testid = "add-lots-form";
  form.append(el("p", where, { className: "hint" }));
  const currency = sale.lots[0]?.currency || "USD";
  field(form, key, "title", "Title").required = true;
  field(form, key, "description", "Description", "", { textarea: true });
  field(form, key, "starting_price", `Starting price (${currency})`, "", { decimal: true }).required = true;
  field(form, key, "reserve", "Reserve", "", { decimal: true, hint: RESERVE_HINT });
  field(form, key, "increment", "Increment", "", { hint: INCREMENT_HINT });
  field(form, key, "buy_now", "Buy-now price", "", { decimal: true, hint: BUY_NOW_HINT });
  for (const input of form.querySelectorAll("input, textarea")) input.dataset.testid = `add-${input.name}`;
  const buttons = el("div", "", { className: "admin-actions" });
  const cancel = el("button", "Close", { type: "button" });
  cancel.addEventListener("click", () => closeForm(key));
  buttons.append(el("button", "Add the lot", { type: "submit", className: "bid-button" }), cancel);
  form.append(buttons);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    let row;
    try {
      row = { title: data.title, description: data.description, currency };
      for (const [name, value] of Object.entries(lotRowOf(data, currency, ["starting_price", "reserve", "increment", "buy_now"]))) {
        if (value !== null) row[name] = value;
      }
    } catch (err) {
      say(`add to ${sale.title}: ${err.message}`, "error");
      return;
    }
    act(`add ${data.title} to ${sale.title}`, async () => {
      try {
        const added = await api("POST", `/api/admin/sales/${encodeURIComponent(sale.sale)}/lots`, { lots: [row] });
        form.reset();
        return `Added ${data.title} (lot ${added.lots.join(", ")}) to ${sale.title}.`;
      } catch (err) {
        if (err.problems?.length) err.message = err.problems.map((p) => p.message).join("; ");
        throw err;
      }
    });
  });
  form.querySelector("input").focus();
}

async function showBids(lot) {
  try {
    const page = await api("GET", `/api/admin/lots/${encodeURIComponent(lot.lot)}/bids`);
    ui.bidsLot.textContent = lot.title;
    ui.bidsCard.dataset.lot = lot.lot;
    // A bid of an open (or paused) lot can be voided; one the house placed goes with the bid
    // that left its maximum, so it has no button of its own.
    const voidable = lot.state === "open" || lot.state === "paused";
    ui.bids.replaceChildren(
      ...page.bids.map((bid) => {
        const row = el("tr");
        row.dataset.seq = String(bid.seq);
        const notes = [];
        if (bid.auto) notes.push("automatic");
        if (typeof bid.max_amount === "number") notes.push(`maximum ${formatMoney(bid.max_amount, lot.currency)}`);
        if (bid.voided) notes.push("voided");
        const action = el("td");
        if (voidable && !bid.auto && !bid.voided) {
          const button = el("button", "Void", { type: "button", className: "danger" });
          button.dataset.testid = "void";
          button.setAttribute("aria-label", `Void bid #${bid.seq}: ${formatMoney(bid.amount, lot.currency)} by ${bid.bidder}`);
          button.addEventListener("click", () => voidBid(lot, bid));
          action.append(button);
        }
        action.className = "admin-row-actions";
        row.append(
          cell("Seq", String(bid.seq)),
          cell("Amount", formatMoney(bid.amount, lot.currency)),
          cell("Bidder", bid.bidder),
          cell(notes.length ? "Notes" : "", notes.join(", ")),
          cell("Time", when(bid.ts)),
          action,
        );
        if (bid.voided) row.classList.add("voided");
        return row;
      }),
    );
    if (!page.bids.length) {
      const row = el("tr");
      row.append(el("td", "No bids.", { colSpan: 6 }));
      ui.bids.append(row);
    }
    ui.bidsCard.hidden = false;
    ui.bidsCard.scrollIntoView({ block: "nearest" });
  } catch (err) {
    say(`bids of ${lot.title}: ${err.message}`, "error");
  }
}

async function voidBid(lot, bid) {
  const what = `bid #${bid.seq} (${formatMoney(bid.amount, lot.currency)} by ${bid.bidder})`;
  const sure = window.confirm(
    `Void ${what} on ${lot.title}? It no longer stands, with the automatic bids it caused; ` +
      "the lot is priced again without it and every bidder is told.",
  );
  if (!sure) return;
  try {
    const voided = await api("POST", `/api/admin/lots/${encodeURIComponent(lot.lot)}/void`, { seq: bid.seq });
    const now = voided.amount === null || voided.amount === undefined
      ? "no bid stands now"
      : `it stands at ${formatMoney(voided.amount, lot.currency)} by ${voided.bidder}`;
    const count = voided.voided?.length ?? 1;
    say(`Voided ${what}${count > 1 ? ` and ${count - 1} automatic bid${count > 2 ? "s" : ""}` : ""}; ${now}.`, "ok");
  } catch (err) {
    say(`void ${what}: ${err.message}`, "error");
  }
  await refresh();
  await showBids({ ...lot, ...(latestLots.get(lot.lot) || {}) });
}

// -- users and the audit log ---------------------------------------------------------------------

function renderUsers(users, me) {
  ui.users.replaceChildren(
    ...users.map((user) => {
      const row = el("tr");
      row.dataset.user = user.username;
      const action = el("td");
      action.className = "admin-row-actions";
      if (user.username !== me) {
        const op = user.blocked ? "unblock" : "block";
        const button = el("button", user.blocked ? "Unblock" : "Block", { type: "button" });
        if (!user.blocked) button.classList.add("danger");
        button.addEventListener("click", () => {
          const question =
            `Block ${user.username}? They are logged out everywhere at once, cannot log in or bid ` +
            "again, and are told they were blocked. You can unblock them later.";
          if (op === "block" && !sure(question)) return;
          act(`${op} ${user.username}`, () => api("POST", `/api/admin/users/${encodeURIComponent(user.username)}/${op}`));
        });
        action.append(button);
      }
      row.append(
        el("td", user.username, { className: "admin-user-name" }),
        cell("Role", user.role),
        cell("State", user.blocked ? "blocked" : "active"),
        action,
      );
      return row;
    }),
  );
}

function renderAudit(entries) {
  ui.audit.replaceChildren(
    ...entries.map((e) => {
      const item = el("li");
      item.append(
        el("time", when(e.ts), { className: "muted" }),
        " ",
        el("strong", e.actor),
        " ",
        el("span", e.action, { className: "audit-action" }),
        " ",
        el("span", e.detail),
      );
      return item;
    }),
  );
}

// -- building sales ------------------------------------------------------------------------------

function showProblems(problems) {
  ui.problems.replaceChildren(
    ...problems.map((p) => el("li", p.line ? `Line ${p.line}: ${p.message}` : p.message)),
  );
}

ui.createForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const data = Object.fromEntries(new FormData(ui.createForm));
  const lot = { title: data.lot_title, description: data.lot_description, starting_price: data.lot_price };
  if (data.lot_reserve) lot.reserve = data.lot_reserve;
  if (data.lot_currency) lot.currency = data.lot_currency.toUpperCase();
  showProblems([]);
  act("create the sale", async () => {
    try {
      await api("POST", "/api/admin/sales", { title: data.title, mode: data.mode, lots: [lot] });
      ui.createForm.reset();
    } catch (err) {
      showProblems(err.problems);
      throw err;
    }
  });
});

ui.importForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const file = ui.importForm.elements.file.files[0];
  if (!file) return;
  const format = file.name.split(".").pop().toLowerCase();
  const types = { csv: "text/csv", json: "application/json", toml: "application/toml" };
  if (!types[format]) {
    say("Choose a .csv, .json or .toml file.", "error");
    return;
  }
  showProblems([]);
  act(`import ${file.name}`, async () => {
    try {
      await api("POST", `/api/admin/catalog?format=${format}`, file, types[format]);
      ui.importForm.reset();
    } catch (err) {
      showProblems(err.problems);
      throw err;
    }
  });
});

// -- who is here ---------------------------------------------------------------------------------

let me = null;
let latestLots = new Map(); // lot id -> its latest summary, for the bids card

async function refresh() {
  if (!me) return;
  try {
    const [sales, users, audit] = await Promise.all([
      api("GET", "/api/sales"),
      api("GET", "/api/admin/users"),
      api("GET", "/api/admin/audit?limit=100"),
    ]);
    latestLots = new Map(sales.sales.flatMap((sale) => sale.lots.map((l) => [l.lot, l])));
    renderSales(sales.sales);
    renderUsers(users.users, me.user);
    renderAudit(audit.entries);
  } catch (err) {
    say(err.message, "error");
    if (err.status === 401 || err.status === 403) start();
  }
}

async function start() {
  let info = null;
  try {
    info = await api("GET", "/api/info");
  } catch {
    say("Cannot reach the server.", "error");
    return;
  }
  me = info.me;
  ui.who.textContent = me ? `${me.user} (${me.role})` : "";
  ui.logout.hidden = !me;
  if (!me || me.role !== "admin") {
    me = null;
    ui.admin.hidden = true;
    ui.loginForm.hidden = false;
    if (info.me) say(`${info.me.user} is not an administrator; log in as one.`, "error");
    ui.loginForm.elements.username.focus();
    return;
  }
  ui.loginForm.hidden = true;
  ui.admin.hidden = false;
  await refresh();
}

bindLogin({
  form: ui.loginForm,
  logout: ui.logout,
  say,
  login: (username, password) => api("POST", "/api/login", { username, password }),
  start,
});

setInterval(refresh, 5000);
start();
