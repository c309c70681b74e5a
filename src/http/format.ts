/** Formatting helpers available in every template as `it.fmt`. */

const HTML_SPECIAL = /[&<>"']/;
const HTML_SPECIALS = /[&<>"']/g;
const HTML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/**
 * HTML-escapes a value for text or a quoted attribute: what `<%= %>` does in every template (it is Eta's
 * escape function, see src/http/render.ts). A number is written as is, with no search for specials. A
 * template that writes one value several times (a username in a row's link, label and title) escapes it once
 * with this and writes the result raw (`<%~ %>`).
 */
export function html(value: unknown): string {
  if (typeof value === 'number') return String(value);
  const text = String(value);
  return HTML_SPECIAL.test(text) ? text.replace(HTML_SPECIALS, entityOf) : text;
}
function entityOf(c: string): string {
  return HTML_ENTITIES[c];
}

const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);
const pad3 = (n: number) => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`);

/**
 * `new Date(ms).toISOString()` for whole milliseconds in years 1970–9999, by arithmetic: a list page formats
 * fifty times and the Date object and its method were its largest single cost (Howard Hinnant's days-to-civil).
 */
function isoString(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms >= 253402300800000) return new Date(ms).toISOString();
  const days = Math.floor(ms / 86_400_000);
  let rest = ms - days * 86_400_000;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  const millis = rest - seconds * 1000;
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const mp = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  return `${year}-${pad2(month)}-${pad2(day)}T${pad2(hours)}:${pad2(minutes)}:${pad2(seconds)}.${pad3(millis)}Z`;
}

/** The last time converted: a list row shows one time up to three ways (datetime, title, text). */
let lastIso = { ms: NaN, iso: '' };
function iso(ms: number): string {
  if (ms !== lastIso.ms) lastIso = { ms, iso: isoString(ms) };
  return lastIso.iso;
}

export function dateTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  const t = iso(Number(ms));
  return `${t.slice(0, 10)} ${t.slice(11, 16)} UTC`;
}

export function isoDateTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '';
  return iso(Number(ms));
}

export function relative(ms: number | null | undefined, now = Date.now()): string {
  if (ms === null || ms === undefined) return 'never';
  const s = Math.round((now - Number(ms)) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  if (s < 86400 * 30) return `${Math.floor(s / 86400)} d ago`;
  return dateTime(ms).slice(0, 10);
}

/**
 * A moment as a list shows it: how long ago, with the exact time as the element's machine-readable
 * `datetime` and its tooltip. Markup built from digits only (nothing to escape), output raw: one conversion
 * instead of three escaped calls per row of a long list.
 */
export function timeAgo(ms: number, now = Date.now()): string {
  return `<time datetime="${iso(Number(ms))}" title="${dateTime(ms)}">${relative(ms, now)}</time>`;
}

export function count(n: number, singular: string, plural = `${singular}s`): string {
  return `${number(n)} ${n === 1 ? singular : plural}`;
}

/** As `toLocaleString('en-US')` writes a count (1,234,567); that call goes through ICU and was a list page's cost. */
export function number(n: number): string {
  if (!Number.isSafeInteger(n)) return n.toLocaleString('en-US');
  const digits = String(Math.abs(n));
  let out = digits.slice(0, ((digits.length - 1) % 3) + 1);
  for (let i = out.length; i < digits.length; i += 3) out += `,${digits.slice(i, i + 3)}`;
  return n < 0 ? `-${out}` : out;
}

/** Builds a query string from the current filters, overriding some keys and dropping empty ones. */
export function qs(base: Record<string, unknown>, overrides: Record<string, unknown> = {}): string {
  // As URLSearchParams would write it (form encoding), without building one: list pages call this a few dozen
  // times, so no merged copy of the two objects and no closure per call.
  let out = '';
  // In the order `{ ...base, ...overrides }` has: an overridden key keeps its place.
  for (const k in base) out = addPair(out, k, k in overrides ? overrides[k] : base[k]);
  for (const k in overrides) if (!(k in base)) out = addPair(out, k, overrides[k]);
  return out;
}

function addPair(out: string, k: string, v: unknown): string {
  if (v === undefined || v === null || v === '') return out;
  if (!Array.isArray(v)) return `${out}${out ? '&' : '?'}${formEncode(k)}=${formEncode(String(v))}`;
  for (const x of v) out = `${out}${out ? '&' : '?'}${formEncode(k)}=${formEncode(String(x))}`;
  return out;
}

/**
 * application/x-www-form-urlencoded, as URLSearchParams writes it: space as +, ! ' ( ) ~ escaped too, and a
 * lone surrogate (a hostile query string can carry one) as U+FFFD rather than a URIError.
 */
function formEncode(s: string): string {
  let encoded = encodedParts.get(s);
  if (encoded === undefined) {
    if (encodedParts.size >= 1000) encodedParts.clear();
    encodedParts.set(s, (encoded = encodeFormPart(s)));
  }
  return encoded;
}
/** Filter names and values recur on every link of a page and from page to page: each is encoded once. */
const encodedParts = new Map<string, string>();
function encodeFormPart(s: string): string {
  return encodeURIComponent((s as string & { toWellFormed(): string }).toWellFormed()).replace(/%20|[!'()~]/g, (c) => (c === '%20' ? '+' : `%${c.charCodeAt(0).toString(16).toUpperCase()}`));
}

/** First and last name, either left out when empty (a list writes it per row: no array for two strings). */
export function fullName(u: { first_name?: string; last_name?: string; firstName?: string; lastName?: string }): string {
  const first = u.first_name ?? u.firstName;
  const last = u.last_name ?? u.lastName;
  return first && last ? `${first} ${last}` : first || last || '';
}

/** An estimate rounded to two significant digits (98,734 → 99,000), for "about …" counts. */
export function roughly(n: number): number {
  if (n < 100) return n;
  const step = 10 ** (Math.floor(Math.log10(n)) - 1);
  return Math.round(n / step) * step;
}
