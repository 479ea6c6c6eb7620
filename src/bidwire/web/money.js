// Money on the wire is an integer count of minor units; people read and type currency units.
// Intl knows each currency's ISO 4217 exponent, the same table the server uses.

const formatters = new Map();

function formatter(currency, compact = false) {
  const key = `${currency}|${compact}`;
  let f = formatters.get(key);
  if (!f) {
    try {
      f = new Intl.NumberFormat(undefined, {
        style: "currency",
        currency,
        ...(compact ? { notation: "compact", maximumFractionDigits: 1 } : {}),
      });
    } catch {
      f = new Intl.NumberFormat(undefined, { style: "currency", currency: "USD" });
    }
    formatters.set(key, f);
  }
  return f;
}

export function exponent(currency) {
  return formatter(currency).resolvedOptions().maximumFractionDigits;
}

export function toUnits(minor, currency) {
  return minor / 10 ** exponent(currency);
}

export function formatMoney(minor, currency) {
  if (minor === null || minor === undefined) return "—";
  return formatter(currency).format(toUnits(minor, currency));
}

/** An axis label: compact for big numbers, and cents only where the steps need them. */
export function formatTick(minor, currency, stepMinor) {
  const units = toUnits(minor, currency);
  if (Math.abs(units) >= 10_000) return formatter(currency, true).format(units);
  const exp = exponent(currency);
  const digits = stepMinor % 10 ** exp === 0 ? 0 : exp;
  const key = `${currency}|tick|${digits}`;
  let f = formatters.get(key);
  if (!f) {
    f = new Intl.NumberFormat(undefined, {
      style: "currency",
      currency,
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    });
    formatters.set(key, f);
  }
  return f.format(units);
}

export function currencySymbol(currency) {
  const part = formatter(currency)
    .formatToParts(0)
    .find((p) => p.type === "currency");
  return part ? part.value : currency;
}

/** The amount for an input box: plain digits, no grouping, so it parses back exactly. */
export function inputValue(minor, currency) {
  const exp = exponent(currency);
  const whole = Math.floor(minor / 10 ** exp);
  const frac = minor % 10 ** exp;
  return exp === 0 || frac === 0 ? String(whole) : `${whole}.${String(frac).padStart(exp, "0")}`;
}

export const MAX_AMOUNT = 10 ** 15;

/**
 * "1,250.5" or "$150" -> minor units, exactly (no floating point), or throws an Error whose
 * message a person understands.
 */
export function parseAmount(text, currency) {
  // The same rules as the server's parse_units (domain/money.py): money is never guessed. A
  // comma only between thousands (1,250.00); "250,00" (250.00 or 25,000?) and "1e3" refused.
  const typed = String(text).trim().replace(/^[^\d.,+-]+/, ""); // a leading "$" or "USD "
  if (/^[\d.,]+[eE][+-]?\d+$/.test(typed)) {
    throw new Error("Type the amount in full, such as 1000, not with an exponent.");
  }
  if (!/^(?:\d+|\d{1,3}(?:,\d{3})+)?(?:\.\d*)?$/.test(typed)) {
    if (typed.includes(",") && /^\d*(?:\.\d*)?$/.test(typed.replace(/,/g, ""))) {
      throw new Error(
        `"${typed}" is unclear: use a point for decimals (250.00) and commas only between thousands (1,250.00).`,
      );
    }
    throw new Error("Type an amount such as 150 or 150.50.");
  }
  const cleaned = typed.replace(/,/g, "");
  const match = /^(\d*)(?:\.(\d*))?$/.exec(cleaned);
  if (!cleaned || !match || (match[1] === "" && !match[2])) {
    throw new Error("Type an amount such as 150 or 150.50.");
  }
  const exp = exponent(currency);
  const fraction = (match[2] || "").replace(/0+$/, "");
  if (fraction.length > exp) {
    throw new Error(
      exp === 0 ? `${currency} amounts are whole numbers.` : `At most ${exp} decimal places.`,
    );
  }
  const minor = Number(match[1] || "0") * 10 ** exp + Number(fraction.padEnd(exp, "0") || "0");
  if (!Number.isSafeInteger(minor) || minor > MAX_AMOUNT) throw new Error("That amount is too large.");
  if (minor <= 0) throw new Error("A bid must be more than zero.");
  return minor;
}

/** An amount as a catalogue prints it: whole units without ".00" ("$1,200"), cents if any. */
export function formatRound(minor, currency) {
  if (minor === null || minor === undefined) return "—";
  const f = formatter(currency);
  const units = toUnits(minor, currency);
  if (!Number.isInteger(units)) return f.format(units);
  const key = `${currency}|round`;
  let round = formatters.get(key);
  if (!round) {
    round = new Intl.NumberFormat(undefined, {
      style: "currency",
      currency: f.resolvedOptions().currency,
      minimumFractionDigits: 0,
      maximumFractionDigits: 0,
    });
    formatters.set(key, round);
  }
  return round.format(units);
}
