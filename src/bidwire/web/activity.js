// My activity: my bids, where I lead or was outbid, what I won and owe, the lots I watch, and
// the notices the server sends me (outbid, won, a watched lot opening or ending), with an inbox
// that an account finds again after a reload. Everything comes over the page's WebSocket
// (`mine`, `watch`, `notices`; docs/protocol.md "My activity"); the server decides what is
// worth telling, this module only shows it, and (if the person wants) rings and shows a
// browser notification while the tab is out of sight.
//
// app.js starts it with one line: startActivity(conn, currentLot).

import { formatMoney } from "./money.js";

const SOUND_KEY = "bidwire.sound";
const ASKED_KEY = "bidwire.notify.asked";
const INBOX_MAX = 200;
const FLASH_MS = 7000;
const RINGING = new Set(["outbid", "won", "watched_opened"]);
const KIND_WORDS = {
  outbid: "Outbid",
  won: "Won",
  watched_opened: "Now open",
  watched_ending: "Ending soon",
};

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

function bell() {
  // drawn, not an emoji: not every system has a font with one
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "activity-bell");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", "M6 16V11a6 6 0 0 1 12 0v5l2 2H4l2-2M10 21h4");
  svg.append(path);
  return svg;
}

function clockTime(ts) {
  return new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function left(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** A notice in the page's own words and money format; the server's `message` otherwise. */
function words(notice, now) {
  const money = notice.amount !== null ? formatMoney(notice.amount, notice.currency) : "";
  const rest = notice.ends_at ? ` (${left(notice.ends_at - now)} left)` : "";
  switch (notice.kind) {
    case "outbid":
      return `You have been outbid on ${notice.title}: the high bid is now ${money}.`;
    case "won":
      return `You won ${notice.title} for ${money}.`;
    case "watched_opened":
      return `${notice.title}, which you watch, is open for bids${rest}.`;
    case "watched_ending":
      return `${notice.title}, which you watch, is ending soon${rest}.`;
    default:
      return notice.message;
  }
}

class ActivityUI {
  constructor(conn, currentLot) {
    this.conn = conn;
    this.currentLot = currentLot;
    this.page = null; // the last `activity` reply
    this.olderBids = []; // pages asked with "Show older bids"
    this.watching = new Set();
    this.inbox = [];
    this.unread = 0;
    this.kept = false; // an account's notices are kept; a guest's are live only
    this.pendingWatch = new Map(); // request id -> lot
    this.refreshTimer = null;
    this.audio = null;
    this.build();
    conn.addEventListener("message", (event) => this.onMessage(event.detail));
    // The moments to ask for notifications: the person's own first bid (or first watch).
    document.getElementById("bid-form")?.addEventListener("submit", () => this.askToNotify());
    setInterval(() => this.tick(), 500);
    if (conn.user) this.onMessage({ type: "welcome" }); // welcomed before this module loaded
  }

  // -- building --------------------------------------------------------------------------

  build() {
    this.badge = el("span", { className: "activity-badge", hidden: true, dataset: { testid: "activity-unread" } });
    this.opener = el(
      "button",
      {
        type: "button",
        className: "activity-open",
        title: "My activity and notices",
        "aria-expanded": "false",
        "aria-controls": "activity",
        dataset: { testid: "activity-open" },
      },
      bell(),
      el("span", { className: "activity-open-text", textContent: "My activity" }),
      this.badge,
    );
    this.opener.addEventListener("click", () => this.toggle());
    // In the top bar, or on a phone (where the bar is full) a round button in the corner: out
    // of the bar, whose backdrop filter would hold a fixed child inside it.
    const narrow = window.matchMedia("(max-width: 640px)");
    const place = () => {
      if (narrow.matches) document.body.append(this.opener);
      else document.querySelector(".topbar-right")?.insertBefore(this.opener, document.getElementById("me"));
    };
    narrow.addEventListener("change", place);
    place();

    this.panel = document.getElementById("activity") || document.body.appendChild(el("section", { id: "activity" }));
    this.panel.classList.add("activity-panel");
    this.panel.setAttribute("aria-label", "My activity");
    this.panel.dataset.testid = "activity";
    const close = el("button", { type: "button", className: "activity-close", textContent: "Close", dataset: { testid: "activity-close" } });
    close.addEventListener("click", () => this.toggle(false));
    this.summary = el("p", { className: "activity-summary", dataset: { testid: "activity-summary" } });
    this.sections = {};
    const section = (key, title, hint = "") => {
      const list = el("ul", { className: "activity-list", dataset: { testid: `activity-${key}` } });
      const box = el(
        "section",
        { className: `activity-section activity-${key}` },
        el("h3", { textContent: title }),
        hint ? el("p", { className: "activity-hint", textContent: hint }) : null,
        list,
      );
      this.sections[key] = { box, list };
      return box;
    };
    this.owed = el("p", { className: "activity-owed", dataset: { testid: "activity-owed" } });
    this.more = el("button", { type: "button", className: "activity-more", textContent: "Show older bids", hidden: true });
    this.more.addEventListener("click", () => this.askOlder());

    this.sound = el("input", { type: "checkbox", id: "activity-sound", dataset: { testid: "activity-sound" } });
    this.sound.checked = localStorage.getItem(SOUND_KEY) === "on";
    this.sound.addEventListener("change", () => {
      localStorage.setItem(SOUND_KEY, this.sound.checked ? "on" : "off");
      if (this.sound.checked) this.beep("won"); // a click: the browser lets the sound start
    });
    this.notifyState = el("span", { className: "activity-hint", dataset: { testid: "activity-notify-state" } });
    this.notifyButton = el("button", { type: "button", className: "activity-more", textContent: "Turn on browser notifications" });
    this.notifyButton.addEventListener("click", () => this.askToNotify(true));

    this.panel.replaceChildren(
      el("header", { className: "activity-head" }, el("h2", { textContent: "My activity" }), close),
      this.summary,
      section("notices", "Notices", ""),
      section("leading", "You are leading"),
      section("outbid", "You have been outbid"),
      section("won", "You won"),
      this.owed,
      section("watching", "Lots you watch", "Star a lot to be told when it opens and when it nears its end."),
      section("bids", "Your bids"),
      this.more,
      el(
        "section",
        { className: "activity-section activity-settings" },
        el("h3", { textContent: "Telling you" }),
        el("label", { className: "activity-toggle" }, this.sound, " Play a sound when you are outbid, win, or a lot you watch opens"),
        el("p", {}, this.notifyState, " ", this.notifyButton),
      ),
    );
    this.panel.hidden = true;
    this.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.toggle(false);
    });

    this.flash = el("div", { className: "activity-flash", role: "status", "aria-live": "polite", dataset: { testid: "activity-flash" } });
    document.body.append(this.flash);

    this.star = el("button", {
      type: "button",
      className: "watch-star",
      "aria-pressed": "false",
      dataset: { testid: "watch-star" },
    });
    this.star.addEventListener("click", () => this.toggleWatch());
    this.placeStar();
    this.renderNotify();
  }

  placeStar() {
    const title = document.getElementById("lot-title");
    if (title && this.star.previousElementSibling !== title) title.insertAdjacentElement("afterend", this.star);
  }

  // -- the wire ----------------------------------------------------------------------------

  send(message) {
    const id = this.conn.newId("act");
    return this.conn.send({ ...message, id }) ? id : null;
  }

  refresh(delay = 0) {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => this.send({ type: "mine" }), delay);
  }

  onMessage(msg) {
    switch (msg.type) {
      case "welcome":
        this.page = null;
        this.olderBids = [];
        this.inbox = [];
        this.unread = 0;
        this.watching.clear();
        this.refresh();
        this.send({ type: "notices" });
        this.render();
        break;
      case "activity":
        if (typeof msg.id === "string" && msg.id.startsWith("actolder")) {
          this.olderBids.push(...msg.bids);
          this.nextBefore = msg.next_before;
        } else {
          this.page = msg;
          this.olderBids = [];
          this.nextBefore = msg.next_before;
          this.watching = new Set(msg.watching.map((w) => w.lot));
        }
        this.render();
        break;
      case "watched":
        this.watching = new Set(msg.watching);
        this.pendingWatch.delete(msg.id);
        this.refresh(200);
        this.render();
        break;
      case "inbox":
        this.kept = msg.kept;
        if (msg.kept) this.inbox = msg.notices;
        this.unread = msg.kept ? msg.unread : this.unread;
        this.render();
        break;
      case "notice":
        this.onNotice(msg);
        break;
      case "bid_accepted":
        this.refresh(300);
        break;
      case "lot_closed":
      case "lot_opened":
        // only what changes my lists: every page asking at every lot's turn would be a storm
        if (!this.panel.hidden && this.concerns(msg.lot)) this.refresh(700);
        break;
      case "error":
        if (this.pendingWatch.has(msg.id)) {
          this.pendingWatch.delete(msg.id);
          this.show(msg.message, "warn");
        }
        break;
      default:
    }
  }

  onNotice(notice) {
    this.inbox.unshift(notice);
    this.inbox.length = Math.min(this.inbox.length, INBOX_MAX);
    if (!this.panel.hidden) this.markRead();
    else this.unread += 1;
    // outbid and won are the page's own news already (app.js says them as the events come)
    notice.words = words(notice, this.conn.clock.now());
    if (notice.kind.startsWith("watched_")) this.show(notice.words, notice.kind);
    if (RINGING.has(notice.kind) && this.sound.checked) this.beep(notice.kind);
    this.notifyOutside(notice);
    this.refresh(300);
    this.render();
  }

  concerns(lotId) {
    const page = this.page;
    if (!page) return false;
    return this.watching.has(lotId) || [...page.leading, ...page.outbid].some((l) => l.lot === lotId);
  }

  markRead() {
    this.unread = 0;
    if (this.kept) this.send({ type: "notices", mark_read: true });
  }

  askOlder() {
    if (!this.nextBefore) return;
    const id = this.conn.newId("actolder");
    this.conn.send({ type: "mine", id, before: this.nextBefore });
  }

  toggleWatch() {
    const lot = this.currentLot();
    if (!lot) return;
    const on = !this.watching.has(lot.lot);
    const id = this.send({ type: "watch", lot: lot.lot, on });
    if (id === null) {
      this.show("Not connected: the page is reconnecting.", "warn");
      return;
    }
    this.pendingWatch.set(id, lot.lot);
    if (on) {
      this.watching.add(lot.lot);
      this.askToNotify();
    } else this.watching.delete(lot.lot);
    this.renderStar();
  }

  toggle(open = this.panel.hidden) {
    this.panel.hidden = !open;
    this.opener.setAttribute("aria-expanded", String(open));
    if (open) {
      this.refresh();
      if (this.unread) this.markRead();
      this.render();
      this.panel.querySelector(".activity-close")?.focus();
    } else this.opener.focus();
  }

  // -- telling the person ------------------------------------------------------------------

  show(text, kind) {
    const item = el("p", { className: "activity-flash-item", textContent: text, dataset: { kind } });
    this.flash.prepend(item);
    while (this.flash.children.length > 3) this.flash.lastElementChild.remove();
    setTimeout(() => item.remove(), FLASH_MS);
  }

  askToNotify(explicit = false) {
    if (!("Notification" in window) || Notification.permission !== "default") return;
    if (!explicit && localStorage.getItem(ASKED_KEY)) return;
    localStorage.setItem(ASKED_KEY, "1");
    Promise.resolve(Notification.requestPermission())
      .catch(() => "default")
      .then(() => this.renderNotify());
  }

  notifyOutside(notice) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    if (document.visibilityState === "visible" && document.hasFocus()) return; // the page says it
    try {
      const shown = new Notification(`bidwire: ${KIND_WORDS[notice.kind] || "Notice"}`, {
        body: notice.words,
        tag: `${notice.kind}:${notice.lot}`,
      });
      shown.onclick = () => window.focus();
    } catch {
      // some browsers only notify from a service worker; the page and the inbox still say it
    }
  }

  beep(kind) {
    try {
      this.audio = this.audio || new AudioContext();
      const ctx = this.audio;
      if (ctx.state === "suspended") ctx.resume();
      const notes = { outbid: [660, 440], won: [523, 659, 784], watched_opened: [587, 880] }[kind] || [600];
      notes.forEach((freq, i) => {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        const at = ctx.currentTime + i * 0.14;
        osc.frequency.value = freq;
        gain.gain.setValueAtTime(0.0001, at);
        gain.gain.exponentialRampToValueAtTime(0.2, at + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.13);
        osc.connect(gain).connect(ctx.destination);
        osc.start(at);
        osc.stop(at + 0.14);
      });
    } catch {
      // no audio here: the words are enough
    }
  }

  // -- drawing -----------------------------------------------------------------------------

  renderNotify() {
    const supported = "Notification" in window;
    const permission = supported ? Notification.permission : "unsupported";
    this.notifyState.textContent = {
      granted: "Browser notifications are on: you are told while this tab is out of sight.",
      denied: "Browser notifications are blocked for this site (your browser's site settings can allow them).",
      default: "Browser notifications are off.",
      unsupported: "This browser does not offer notifications.",
    }[permission];
    this.notifyButton.hidden = permission !== "default";
  }

  renderStar() {
    this.placeStar();
    const lot = this.currentLot();
    const on = Boolean(lot) && this.watching.has(lot.lot);
    // a closed lot has nothing more to tell, unless it is watched (then it can be let go)
    this.star.hidden = !lot || !this.conn.user || (lot.state === "closed" && !on);
    if (!lot) return;
    this.star.dataset.lot = lot.lot;
    this.star.setAttribute("aria-pressed", String(on));
    this.star.textContent = on ? "★ Watching" : "☆ Watch";
    this.star.title = on
      ? "You are told when this lot opens and when it nears its end. Click to stop."
      : "Be told when this lot opens and when it nears its end";
  }

  tick() {
    this.renderStar();
    if (!this.panel.hidden && this.page) this.renderLots();
  }

  render() {
    this.badge.hidden = this.unread === 0;
    this.badge.textContent = this.unread > 99 ? "99+" : String(this.unread);
    this.opener.title = this.unread ? `My activity: ${this.unread} new notice${this.unread === 1 ? "" : "s"}` : "My activity and notices";
    this.renderStar();
    this.renderNotify();
    if (this.panel.hidden) return;
    const page = this.page;
    const { notices } = this.sections;
    notices.list.replaceChildren(
      ...this.inbox.slice(0, 30).map((n) =>
        el(
          "li",
          { className: "activity-notice", dataset: { kind: n.kind, read: String(Boolean(n.read)) } },
          el("span", { className: "activity-kind", textContent: KIND_WORDS[n.kind] || n.kind }),
          el("span", { className: "activity-text", textContent: n.words || words(n, n.ts) }),
          el("time", { className: "activity-time", textContent: clockTime(n.ts) }),
        ),
      ),
    );
    if (!this.inbox.length) {
      notices.list.append(
        el("li", {
          className: "activity-empty",
          textContent: this.kept ? "Nothing yet: you are told here when something happens." : "Nothing yet. As a guest you are told while this page is open; log in to keep notices for later.",
        }),
      );
    }
    if (!page) {
      this.summary.textContent = this.conn.user ? "Loading your activity…" : "Join the sale to see your activity.";
      return;
    }
    const lead = page.leading.length;
    const lost = page.outbid.length;
    this.summary.textContent =
      `${page.user}: leading on ${lead} lot${lead === 1 ? "" : "s"}, outbid on ${lost}, ` +
      `won ${page.won.length}.`;
    this.renderLots();
    const { won, bids } = this.sections;
    won.list.replaceChildren(
      ...page.won.map((w) =>
        el(
          "li",
          {},
          el("span", { className: "activity-title", textContent: w.title }),
          el("span", { className: "activity-money", textContent: formatMoney(w.amount, w.currency) }),
          el("span", { className: "activity-meta", textContent: w.reason === "buy_now" ? "bought now" : `sold ${clockTime(w.ts)}` }),
        ),
      ),
    );
    if (!page.won.length) won.list.append(el("li", { className: "activity-empty", textContent: "Nothing won yet." }));
    const owed = Object.entries(page.owed);
    this.owed.textContent = owed.length
      ? `You owe ${owed.map(([currency, amount]) => formatMoney(amount, currency)).join(" and ")} (the hammer prices; no fees).`
      : "";
    const allBids = [...page.bids, ...this.olderBids];
    bids.list.replaceChildren(
      ...allBids.map((b) => {
        const what = b.kind === "max_raised" ? `maximum raised to ${formatMoney(b.max_amount, b.currency)}` : formatMoney(b.amount, b.currency);
        const notes = [];
        if (b.kind === "bid" && b.max_amount !== null) notes.push(`your max ${formatMoney(b.max_amount, b.currency)}`);
        if (b.auto) notes.push("placed for your maximum");
        if (b.voided) notes.push("voided");
        return el(
          "li",
          { dataset: { voided: String(b.voided) } },
          el("span", { className: "activity-title", textContent: b.title }),
          el("span", { className: "activity-money", textContent: what }),
          el("span", { className: "activity-meta", textContent: [clockTime(b.ts), ...notes].join(" · ") }),
        );
      }),
    );
    if (!allBids.length) bids.list.append(el("li", { className: "activity-empty", textContent: "You have not bid yet." }));
    this.more.hidden = !this.nextBefore;
  }

  renderLots() {
    const page = this.page;
    const now = this.conn.clock.now();
    const line = (lot, extra, key) => {
      const parts = [];
      if (lot.state === "open" && lot.ends_at) parts.push(`${left(lot.ends_at - now)} left`);
      else parts.push({ scheduled: "coming up", paused: "paused", closed: "closed", open: "open" }[lot.state]);
      const item = el(
        "li",
        { dataset: { lot: lot.lot } },
        el("span", { className: "activity-title", textContent: lot.title }),
        el("span", { className: "activity-money", textContent: lot.amount !== null ? formatMoney(lot.amount, lot.currency) : "no bids" }),
        el("span", { className: "activity-meta", textContent: [...extra, ...parts].join(" · ") }),
      );
      if (key === "watching") {
        const stop = el("button", { type: "button", className: "activity-unwatch", textContent: "Stop watching" });
        stop.setAttribute("aria-label", `Stop watching ${lot.title}`);
        stop.addEventListener("click", () => {
          const id = this.send({ type: "watch", lot: lot.lot, on: false });
          if (id) this.pendingWatch.set(id, lot.lot);
        });
        item.append(stop);
      }
      return item;
    };
    const fill = (key, lots, extra, empty) => {
      const { list } = this.sections[key];
      list.replaceChildren(...lots.map((lot) => line(lot, extra(lot), key)));
      if (!lots.length) list.append(el("li", { className: "activity-empty", textContent: empty }));
    };
    fill("leading", page.leading, (l) => (l.max_amount !== null ? [`your max ${formatMoney(l.max_amount, l.currency)}`] : []), "You lead on no lot right now.");
    fill("outbid", page.outbid, (l) => (l.my_amount !== null ? [`your bid ${formatMoney(l.my_amount, l.currency)}`] : []), "Nobody has outbid you.");
    fill("watching", page.watching.filter((w) => this.watching.has(w.lot)), () => [], "You watch no lot.");
  }
}

export function startActivity(conn, currentLot) {
  return new ActivityUI(conn, currentLot);
}
