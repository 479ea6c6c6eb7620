// Who "you" are on the page: pure functions, no DOM, no connection (tested in node and the page).
//
// The public sees a bidder of an anonymous sale by a pseudonym, and the server tells each
// connection, and only it, its own pseudonym for each such sale (the `alias` message; a
// `bid_accepted` names it too). A bid is yours when its bidder is your name, or your pseudonym
// in that lot's sale: never a pseudonym of another sale, nor a name you no longer hold.

/** The pseudonyms this connection holds, by sale. Forget them all when who you are changes. */
export class Aliases {
  constructor() {
    this.bySale = new Map();
  }

  /** From `{"type":"alias","sale","bidder"}`, or a `bid_accepted`'s bidder on a lot of `sale`. */
  learn(sale, bidder) {
    if (typeof sale === "string" && sale && typeof bidder === "string" && bidder) {
      this.bySale.set(sale, bidder);
    }
  }

  of(sale) {
    return this.bySale.get(sale) ?? null;
  }

  clear() {
    this.bySale.clear();
  }
}

/** Whether `bidder`, as the page was told it on a lot of `sale`, is you (`name`). */
export function isYou(bidder, name, aliases, sale) {
  if (typeof bidder !== "string" || !bidder) return false;
  if (name && bidder === name) return true;
  const alias = aliases ? aliases.of(sale) : null;
  return alias !== null && bidder === alias;
}

/**
 * What to tell a guest whose welcome names someone else than the name they asked for, or "" when
 * there is nothing to tell: the server gave them another name (`bob` was taken: `bob-2`).
 */
export function renamedWords(asked, welcomed) {
  if (typeof asked !== "string" || !asked || typeof welcomed !== "string" || !welcomed) return "";
  if (asked === welcomed) return "";
  return `${asked} is taken by another guest; you bid as ${welcomed}.`;
}

/** Why the server ended this connection for good, in words, or "" when it may be retried. */
export function endedWords(message) {
  if (!message || message.type !== "error") return "";
  if (message.reason === "blocked") {
    return "The auctioneer has blocked your account; you can no longer bid here.";
  }
  if (message.reason === "logged_out") {
    return "You were logged out (from another page or device); log in again to bid.";
  }
  return "";
}
