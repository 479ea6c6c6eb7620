// The WebSocket link to the server: hello, keep-alive, reconnect with backoff, clock offset.
// It knows the protocol's envelope (types, ids, ts) but nothing about auctions.

const BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000];
const PING_EVERY_MS = 15_000;
const PONG_GRACE_MS = 10_000;
const OFFSET_WINDOW_MS = 60_000;
// An `error` with one of these reasons ends the connection for good: retrying cannot help.
const FINAL_REASONS = new Set(["blocked", "logged_out"]);

/**
 * The server's clock decides. Every server message carries its `ts`; a message is read a little
 * after it was stamped, so `ts - Date.now()` is never above the true offset: the largest recent
 * sample is the best estimate (pongs, stamped just before they are sent, bring it close).
 */
export class ServerClock {
  constructor() {
    this.samples = [];
    this.offset = 0;
  }

  observe(ts) {
    if (typeof ts !== "number" || !Number.isFinite(ts)) return;
    const local = Date.now();
    this.samples.push([local, ts - local]);
    // Old samples expire, so a clock that was stepped (NTP, a new server) is followed.
    while (this.samples.length > 1 && this.samples[0][0] < local - OFFSET_WINDOW_MS) {
      this.samples.shift();
    }
    if (this.samples.length > 64) this.samples.shift();
    this.offset = Math.max(...this.samples.map((s) => s[1]));
  }

  now() {
    return Date.now() + this.offset;
  }
}

export class Connection extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.name = null;
    this.ws = null;
    this.state = "idle";
    this.attempt = 0;
    this.user = null;
    this.role = null;
    this.clock = new ServerClock();
    this.nextId = 1;
    this.retryTimer = null;
    this.pingTimer = null;
    this.lastHeard = 0;
    this.guestToken = null; // the welcome's guest_token: the same guest again on a reconnect
    this.ended = null; // the final error that ended the connection, until the next start
  }

  /**
   * Join as the guest `name`, or with `null` as the account whose HttpOnly cookie the browser
   * holds: the server reads the cookie during the handshake and welcomes us without a word.
   */
  start(name, guestToken = null) {
    // Another guest is not the last one's session; `guestToken`: this guest's, kept from before.
    if (name !== this.name) this.guestToken = guestToken;
    this.name = name;
    this.ended = null;
    this.connect();
  }

  /** A new name (or a login) needs a new hello, and a hello needs a new connection. */
  rename(name) {
    this.stop();
    this.start(name);
  }

  /** The server ended us for good (`message`: its final error): hang up, do not retry. */
  end(message) {
    this.stop();
    this.ended = message;
    this.guestToken = null;
    this.setState("ended", message.message || message.reason || "");
  }

  /** Hang up and stay down (after logging out, until the person chooses again). */
  stop() {
    this.user = null;
    this.role = null;
    clearTimeout(this.retryTimer);
    this.stopPing();
    if (this.ws) {
      const old = this.ws;
      this.ws = null;
      old.close(1000, "leaving");
    }
    this.attempt = 0;
  }

  newId(prefix) {
    return `${prefix}${this.nextId++}`;
  }

  send(message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  setState(state, detail = "") {
    this.state = state;
    this.dispatchEvent(new CustomEvent("status", { detail: { state, detail } }));
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.setState(this.attempt ? "reconnecting" : "connecting", "Connecting…");
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this.scheduleRetry(String(err));
      return;
    }
    this.ws = ws;
    ws.addEventListener("open", () => {
      if (this.ws !== ws) return;
      this.lastHeard = Date.now();
      if (this.name !== null) {
        const hello = { type: "hello", id: this.newId("h"), name: this.name };
        if (this.guestToken) hello.guest_token = this.guestToken;
        this.send(hello);
      }
    });
    ws.addEventListener("message", (event) => {
      if (this.ws !== ws) return;
      this.lastHeard = Date.now();
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return; // not ours to judge; the protocol promises JSON objects
      }
      if (!message || typeof message !== "object") return;
      this.clock.observe(message.ts);
      if (message.type === "welcome") {
        this.attempt = 0;
        this.user = message.user;
        this.role = message.role;
        if (typeof message.guest_token === "string") this.guestToken = message.guest_token;
        this.setState("live", message.user);
        this.startPing();
      } else if (message.type === "server_closing") {
        this.setState("reconnecting", "The server is restarting…");
      }
      const final = message.type === "error" && FINAL_REASONS.has(message.reason);
      this.dispatchEvent(new CustomEvent("message", { detail: message }));
      if (final && this.ws === ws) this.end(message);
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.stopPing();
      if (this.ended) return; // told why already: a retry would only be refused again
      this.scheduleRetry(event.reason || "");
    });
    // "error" is always followed by "close", which does the work.
  }

  scheduleRetry(reason) {
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    // Jitter, so a restarted server is not met by every page at the same instant.
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.attempt += 1;
    const at = Date.now() + delay;
    this.setState("reconnecting", reason);
    const tick = () => {
      const left = at - Date.now();
      if (left <= 0) {
        this.connect();
        return;
      }
      this.dispatchEvent(
        new CustomEvent("status", {
          detail: { state: "reconnecting", detail: `Reconnecting in ${Math.ceil(left / 1000)} s…` },
        }),
      );
      this.retryTimer = setTimeout(tick, Math.min(left, 1000));
    };
    tick();
  }

  startPing() {
    this.stopPing();
    this.pingTimer = setInterval(() => {
      if (!this.ws) return;
      if (Date.now() - this.lastHeard > PING_EVERY_MS + PONG_GRACE_MS) {
        // A half-open connection (laptop lid, lost Wi-Fi) never fires "close" by itself.
        const dead = this.ws;
        this.ws = null;
        this.stopPing();
        dead.close();
        this.scheduleRetry("The connection went quiet.");
        return;
      }
      this.send({ type: "ping", id: this.newId("p") });
    }, PING_EVERY_MS);
  }

  stopPing() {
    clearInterval(this.pingTimer);
    this.pingTimer = null;
  }
}
