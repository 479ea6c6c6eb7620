// The admin page: sales and lots, every bid with its bidder, users, the audit log.
// Plain ES module like the saleroom. Every piece of text from the server goes in with
// textContent, never as HTML, so a lot called "<script>..." is shown, not run.

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
    await work();
    say(`${label}: done.`, "ok");
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

function renderSales(sales) {
  const blocks = sales.map((sale) => {
    const box = el("section", "", { className: "admin-sale" });
    box.dataset.sale = sale.sale;
    box.append(el("h3", sale.title));
    box.append(el("p", `${sale.sale} · ${sale.mode} · ${sale.state}`, { className: "muted" }));
    const actions = el("div", "", { className: "admin-actions" });
    for (const op of SALE_ACTIONS[sale.state] || []) {
      const button = el("button", `${op[0].toUpperCase()}${op.slice(1)} sale`, { type: "button" });
      button.dataset.op = op;
      button.addEventListener("click", () =>
        act(`${op} ${sale.title}`, () => api("POST", `/api/admin/sales/${encodeURIComponent(sale.sale)}/${op}`)),
      );
      actions.append(button);
    }
    box.append(actions);
    const table = el("table", "", { className: "admin-table" });
    const head = el("tr");
    for (const name of ["Lot", "Description", "State", "High bid", ""]) head.append(el("th", name, { scope: "col" }));
    table.append(el("thead"));
    table.tHead.append(head);
    const body = el("tbody");
    for (const lot of sale.lots) body.append(lotRow(lot));
    table.append(body);
    box.append(table);
    return box;
  });
  if (!blocks.length) blocks.push(el("p", "No sales yet.", { className: "muted" }));
  ui.sales.replaceChildren(...blocks);
}

function lotRow(lot) {
  const row = el("tr");
  row.dataset.lot = lot.lot;
  const title = el("td");
  title.append(el("strong", lot.title, { className: "lot-title-cell" }), el("br"), el("small", lot.lot, { className: "muted" }));
  const description = el("td");
  description.append(el("span", lot.description, { className: "lot-description-cell" }));
  const high = lot.high_bid
    ? `${formatMoney(lot.high_bid.amount, lot.currency)} by ${lot.high_bid.bidder}`
    : `from ${formatMoney(lot.starting_price, lot.currency)}`;
  const extras = [];
  if (lot.buy_now !== null && lot.buy_now !== undefined) extras.push(`buy now ${formatMoney(lot.buy_now, lot.currency)}`);
  if (lot.reserve) extras.push(lot.reserve_met ? "reserve met" : "reserve not met");
  const highCell = el("td", high);
  if (extras.length) highCell.append(el("br"), el("small", extras.join(" · "), { className: "muted" }));
  const actions = el("td");
  const bids = el("button", "Bids", { type: "button" });
  bids.addEventListener("click", () => showBids(lot));
  actions.append(bids);
  if (lot.state !== "closed") {
    const withdraw = el("button", "Withdraw", { type: "button" });
    withdraw.addEventListener("click", () =>
      act(`withdraw ${lot.title}`, () => api("POST", `/api/admin/lots/${encodeURIComponent(lot.lot)}/withdraw`)),
    );
    actions.append(withdraw);
  }
  if (lot.state === "scheduled") {
    const edit = el("button", "Edit", { type: "button" });
    edit.addEventListener("click", () => editLot(row, lot));
    actions.append(edit);
  }
  row.append(title, description, el("td", lot.outcome ? `${lot.state} (${lot.outcome})` : lot.state), highCell, actions);
  return row;
}

function editLot(row, lot) {
  const form = el("form", "", { className: "admin-form" });
  const fields = [
    ["title", "Title", lot.title],
    ["description", "Description", lot.description],
    ["starting_price", "Starting price", inputValue(lot.starting_price, lot.currency)],
    ["currency", "Currency", lot.currency],
  ];
  const buyNow = lot.buy_now ?? null;
  fields.push(["buy_now", "Buy-now price (optional: offered until the first bid)", buyNow === null ? "" : inputValue(buyNow, lot.currency)]);
  for (const [name, label, value] of fields) {
    const id = `edit-${lot.lot}-${name}`;
    form.append(el("label", label, { htmlFor: id }));
    const input = el(name === "description" ? "textarea" : "input", "", { id, name, value });
    input.dataset.testid = `edit-${name}`;
    if (name === "buy_now" || name === "starting_price") input.inputMode = "decimal";
    form.append(input);
  }
  form.append(el("button", "Save", { type: "submit", className: "bid-button" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    // Prices are in currency units, as a person types them (the server's LotEdit); an empty
    // buy-now price means "not offered". Checked here first, so an unclear amount is refused.
    const text = String(data.buy_now || "").trim();
    try {
      if (text) parseAmount(text, (data.currency || lot.currency).toUpperCase());
    } catch (err) {
      say(`edit ${lot.title}: buy-now price: ${err.message}`, "error");
      return;
    }
    data.buy_now = text || null;
    act(`edit ${lot.title}`, () => api("PUT", `/api/admin/lots/${encodeURIComponent(lot.lot)}`, data));
  });
  const cell = el("td", "", { colSpan: 5 });
  cell.append(form);
  const editRow = el("tr");
  editRow.append(cell);
  row.after(editRow);
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
        row.append(
          el("td", String(bid.seq)),
          el("td", formatMoney(bid.amount, lot.currency)),
          el("td", bid.bidder),
          el("td", notes.join(", ")),
          el("td", when(bid.ts)),
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
      if (user.username !== me) {
        const op = user.blocked ? "unblock" : "block";
        const button = el("button", user.blocked ? "Unblock" : "Block", { type: "button" });
        button.addEventListener("click", () =>
          act(`${op} ${user.username}`, () => api("POST", `/api/admin/users/${encodeURIComponent(user.username)}/${op}`)),
        );
        action.append(button);
      }
      row.append(el("td", user.username), el("td", user.role), el("td", user.blocked ? "blocked" : "active"), action);
      return row;
    }),
  );
}

function renderAudit(entries) {
  ui.audit.replaceChildren(
    ...entries.map((e) => el("li", `${when(e.ts)}  ${e.actor}  ${e.action}  ${e.detail}`)),
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

ui.loginForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = ui.loginForm.elements;
  try {
    await api("POST", "/api/login", { username: form.username.value.trim(), password: form.password.value });
    form.password.value = "";
    say("", "");
    await start();
  } catch (err) {
    say(err.message.replace(/^body\.\w+: /, ""), "error");
    form.password.select();
  }
});

ui.logout.addEventListener("click", async () => {
  await fetch("/api/logout", { method: "POST" }).catch(() => {});
  say("You are logged out.", "ok");
  await start();
});

setInterval(refresh, 5000);
start();
