/** Formatting helpers available in every template as `it.fmt`. */

/** The last time converted: a list row shows one time up to three ways (datetime, title, text). */
let lastIso = { ms: NaN, iso: '' };
function iso(ms: number): string {
  if (ms !== lastIso.ms) lastIso = { ms, iso: new Date(ms).toISOString() };
  return lastIso.iso;
}

export function dateTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  return iso(Number(ms)).replace('T', ' ').slice(0, 16) + ' UTC';
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

export function count(n: number, singular: string, plural = `${singular}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? singular : plural}`;
}

export function number(n: number): string {
  return n.toLocaleString('en-US');
}

/** Builds a query string from the current filters, overriding some keys and dropping empty ones. */
export function qs(base: Record<string, unknown>, overrides: Record<string, unknown> = {}): string {
  // As URLSearchParams would write it (form encoding), without building one: list pages call this a few dozen times.
  let out = '';
  const add = (k: string, v: unknown) => {
    out += `${out ? '&' : '?'}${formEncode(k)}=${formEncode(String(v))}`;
  };
  for (const [k, v] of Object.entries({ ...base, ...overrides })) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) for (const x of v) add(k, x);
    else add(k, v);
  }
  return out;
}

/**
 * application/x-www-form-urlencoded, as URLSearchParams writes it: space as +, ! ' ( ) ~ escaped too, and a
 * lone surrogate (a hostile query string can carry one) as U+FFFD rather than a URIError.
 */
function formEncode(s: string): string {
  return encodeURIComponent((s as string & { toWellFormed(): string }).toWellFormed()).replace(/%20|[!'()~]/g, (c) => (c === '%20' ? '+' : `%${c.charCodeAt(0).toString(16).toUpperCase()}`));
}

export function fullName(u: { first_name?: string; last_name?: string; firstName?: string; lastName?: string }): string {
  return [u.first_name ?? u.firstName, u.last_name ?? u.lastName].filter(Boolean).join(' ');
}

/** An estimate rounded to two significant digits (98,734 → 99,000), for "about …" counts. */
export function roughly(n: number): number {
  if (n < 100) return n;
  const step = 10 ** (Math.floor(Math.log10(n)) - 1);
  return Math.round(n / step) * step;
}
