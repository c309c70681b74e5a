/**
 * The one CSV writer of the console: every export (users, a group's members, "who may", the audit log)
 * streams through it, so each has the same dialect — UTF-8 with a byte-order mark (spreadsheets then read
 * accents right), comma-separated, CRLF, RFC 4180 quoting by csv-stringify — and the same protection:
 * a value a spreadsheet would run as a formula (leading `=`, `+`, `-`, `@`, tab or carriage return) is
 * written with a leading apostrophe, which spreadsheets show as text. Rows are pulled from an async source
 * as the client reads, so an export of 100,000 users never sits in memory.
 */
import { pipeline, Readable } from 'node:stream';
import type Koa from 'koa';
import { stringify } from 'csv-stringify';

const FORMULA_START = /^[=+\-@\t\r]/;

/** A cell's text: empty for null, ISO 8601 for dates, and formulas neutralised. */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  const s = String(value);
  return FORMULA_START.test(s) ? `'${s}` : s;
}

/** The inverse, for imports: a value an export neutralised is read back as it was. */
export function unneutralise(value: string): string {
  return value.length > 1 && value[0] === "'" && FORMULA_START.test(value.slice(1)) ? value.slice(1) : value;
}

export type CsvRows = AsyncIterable<unknown[][]> | Iterable<unknown[][]>;

/**
 * Answers with a CSV download: `header`, then every row of every batch `rows` yields. Errors while
 * streaming end the download early (the client sees a truncated file, never a half-page of HTML).
 */
export function sendCsv(ctx: Koa.Context, filename: string, header: string[], rows: CsvRows): void {
  const source = Readable.from(
    (async function* () {
      yield header.map(csvCell);
      for await (const batch of rows) for (const row of batch) yield row.map(csvCell);
    })(),
  );
  const out = stringify({ bom: true, record_delimiter: 'windows', quoted_match: /^\s|\s$/ });
  pipeline(source, out, (err) => {
    if (err) ctx.app.emit('error', err, ctx);
  });
  ctx.type = 'text/csv; charset=utf-8';
  ctx.attachment(filename);
  ctx.set('Cache-Control', 'no-store');
  ctx.body = out;
}

/** A date as exports write it: ISO 8601 in UTC, or empty. */
export function csvDate(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '' : new Date(Number(ms)).toISOString();
}
