/** The SQL of CSV imports (src/users/csvImport.ts): the staged rows of a dry run, and the batch writes. */
import type { Conn } from '../db/connect';
import { isMysql } from '../db/connect';
import { chunks } from './bulkRepo';
import { userRow, type NewUserRow } from './repo';

export interface ImportRow {
  line: number;
  outcome: 'ok' | 'error';
  data: ImportData;
  messages: string[];
}

/** A row as the dry run understood it. */
export interface ImportData {
  username: string;
  firstName: string;
  lastName: string;
  email: string;
  role: string;
  license: string;
  groups: string[];
  roleId?: number;
  licenseTypeId?: number;
  groupIds?: number[];
}

export interface ImportHeader {
  id: string;
  actorId: number | null;
  fileName: string;
  state: 'checked' | 'imported';
  totalRows: number;
  validRows: number;
  summary: Record<string, unknown>;
  createdAt: number;
}

export async function insertImport(db: Conn, h: { id: string; actorId: number | null; fileName: string; now: number }): Promise<void> {
  await db('csv_imports').insert({ id: h.id, actor_id: h.actorId, file_name: h.fileName.slice(0, 255), state: 'checking', total_rows: 0, valid_rows: 0, created_at: h.now });
}

export async function finishCheck(db: Conn, id: string, totals: { total: number; valid: number; summary: Record<string, unknown> }): Promise<void> {
  await db('csv_imports').where({ id }).update({ state: 'checked', total_rows: totals.total, valid_rows: totals.valid, summary_json: JSON.stringify(totals.summary) });
}

/** Marks a checked import as being imported; false when it was already (a second click, another tab). */
export async function claim(db: Conn, id: string): Promise<boolean> {
  return (await db('csv_imports').where({ id, state: 'checked' }).update({ state: 'imported' })) === 1;
}

export async function setSummary(db: Conn, id: string, summary: Record<string, unknown>): Promise<void> {
  await db('csv_imports').where({ id }).update({ summary_json: JSON.stringify(summary) });
}

export async function findImport(db: Conn, id: string): Promise<ImportHeader | undefined> {
  const r = await db('csv_imports').where({ id }).first();
  if (!r) return undefined;
  return {
    id: r.id,
    actorId: r.actor_id === null ? null : Number(r.actor_id),
    fileName: r.file_name,
    state: r.state,
    totalRows: Number(r.total_rows),
    validRows: Number(r.valid_rows),
    summary: r.summary_json ? JSON.parse(r.summary_json) : {},
    createdAt: Number(r.created_at),
  };
}

export async function insertRows(db: Conn, importId: string, rows: ImportRow[]): Promise<void> {
  for (const part of chunks(rows, isMysql(db) ? 1000 : 100)) {
    await db('csv_import_rows').insert(
      part.map((r) => ({ import_id: importId, line: r.line, outcome: r.outcome, data_json: JSON.stringify(r.data), messages_json: r.messages.length ? JSON.stringify(r.messages) : null })),
    );
  }
}

/** Turns rows into problems after the fact (seats counted over the whole file). */
export async function markProblems(db: Conn, importId: string, lines: number[], message: string): Promise<void> {
  for (const part of chunks(lines)) {
    await db('csv_import_rows').where({ import_id: importId }).whereIn('line', part).update({ outcome: 'error', messages_json: JSON.stringify([message]) });
  }
}

function toRow(r: { line: number; outcome: 'ok' | 'error'; data_json: string; messages_json: string | null }): ImportRow {
  return { line: Number(r.line), outcome: r.outcome, data: JSON.parse(r.data_json), messages: r.messages_json ? JSON.parse(r.messages_json) : [] };
}

export async function rows(db: Conn, importId: string, opts: { onlyProblems?: boolean; limit: number; offset: number }): Promise<{ rows: ImportRow[]; total: number }> {
  const q = () => {
    const b = db('csv_import_rows').where({ import_id: importId });
    if (opts.onlyProblems) b.andWhere({ outcome: 'error' });
    return b;
  };
  const total = Number((await q().count({ n: '*' }).first())?.n ?? 0);
  const found = await q().orderBy('line').limit(opts.limit).offset(opts.offset).select('line', 'outcome', 'data_json', 'messages_json');
  return { rows: found.map(toRow), total };
}

/** Every row of an outcome, in line order, in batches. */
export async function* eachRow(db: Conn, importId: string, outcome: 'ok' | 'error', batch = 2000): AsyncGenerator<ImportRow[]> {
  let after = 0;
  for (;;) {
    const found = await db('csv_import_rows').where({ import_id: importId, outcome }).andWhere('line', '>', after).orderBy('line').limit(batch).select('line', 'outcome', 'data_json', 'messages_json');
    if (!found.length) return;
    yield found.map(toRow);
    after = Number(found[found.length - 1].line);
  }
}

/** Imports older than `before` go (their rows with them). */
/** Removes an import that could not be checked (its rows go with it). */
export async function removeImport(db: Conn, id: string): Promise<void> {
  await db('csv_imports').where({ id }).delete();
}

export async function removeImportsBefore(db: Conn, before: number): Promise<void> {
  await db('csv_imports').where('created_at', '<', before).delete();
}

/** Of these lower-cased usernames / emails, the ones already taken. */
export async function takenUsernames(db: Conn, lower: string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (const part of chunks(lower)) for (const r of await db('users').whereIn('username_lower', part).select('username_lower')) out.add(r.username_lower);
  return out;
}

export async function takenEmails(db: Conn, lower: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const part of chunks(lower)) for (const r of await db('users').whereIn('email_lower', part).select('email_lower', 'username')) out.set(r.email_lower, r.username);
  return out;
}

/** Inserts new users in multi-row statements; returns username_lower → id. */
export async function insertUsers(db: Conn, users: NewUserRow[], now: number): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  for (const part of chunks(users, isMysql(db) ? 1000 : 30)) {
    await db('users').insert(part.map((u) => userRow(u, now)));
    for (const r of await db('users').whereIn('username_lower', part.map((u) => u.username.toLowerCase())).select('id', 'username_lower')) ids.set(r.username_lower, Number(r.id));
  }
  return ids;
}

export async function insertMemberships(db: Conn, pairs: Array<[number, number]>, now: number): Promise<void> {
  for (const part of chunks(pairs, isMysql(db) ? 2000 : 150)) {
    await db('group_members').insert(part.map(([groupId, userId]) => ({ group_id: groupId, user_id: userId, added_at: now })));
  }
}

export async function groupsByName(db: Conn, lowerNames: string[]): Promise<Map<string, { id: number; name: string }>> {
  const out = new Map<string, { id: number; name: string }>();
  for (const part of chunks(lowerNames)) for (const r of await db('groups').whereIn('name_lower', part).select('id', 'name', 'name_lower')) out.set(r.name_lower, { id: Number(r.id), name: r.name });
  return out;
}
