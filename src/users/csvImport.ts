/**
 * Importing users (and optionally their groups) from a CSV file, in two steps.
 *
 * 1. The dry run reads the upload as it arrives (csv-parse; UTF-8 with or without a byte-order mark, `,` or
 *    `;` as chosen by the header line), checks every row as the Create user form would — the same schema
 *    from the users service, the same uniqueness, the same rule for handing out roles and changing group
 *    members, seats counted over the whole file — and keeps each row with its outcome. Nothing else is written.
 * 2. Confirming imports the rows that passed, in one transaction that checks them again (someone may have
 *    taken a username or a seat meanwhile) and reports what changed since the dry run.
 *
 * Imported accounts have no password: they sign in with single sign-on, or an administrator sets one on
 * the user's page (hashing 100,000 passwords from a file would take hours with a memory-hard function).
 */
import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import type { Conn, Db } from '../db/connect';
import type { Actor } from '../http/types';
import { validate } from '../http/forms';
import { HttpError, ValidationError } from '../http/errors';
import { unneutralise } from '../http/csv';
import { recordChanges } from '../changes/service';
import { transaction } from '../db/transaction';
import { guard } from '../db/guards';
import * as audit from '../audit/service';
import * as rolesRepo from '../roles/repo';
import type { Role } from '../roles/repo';
import { assignmentBlocker } from '../roles/service';
import * as licensesRepo from '../licenses/repo';
import { assertSeatAvailable } from '../licenses/service';
import { bumpVersion as bumpGroupVersion } from '../groups/repo';
import { policyFor } from './policy';
import { createUserSchema } from './service';
import * as repo from './importRepo';
import type { ImportData, ImportRow } from './importRepo';
import { domainPermissionCount } from './bulkRepo';

export const IMPORT_MAX_ROWS = 100_000;
export const IMPORT_COLUMNS = ['username', 'first_name', 'last_name', 'email', 'role', 'license', 'groups'] as const;
const REQUIRED_COLUMNS = ['username', 'first_name', 'last_name', 'email'];
/** Columns an export writes that an import reads past (they describe, they are not set). */
const EXPORT_ONLY = ['status', 'source', 'created_at', 'last_sign_in_at'];
/** Group names never contain `|` (see the group name rule), so one cell can list several. */
export const GROUP_SEPARATOR = '|';
const BATCH = 1000;
const KEEP_MS = 2 * 86400_000;

export const TEMPLATE_ROWS = [
  [...IMPORT_COLUMNS],
  ['anna.berg', 'Anna', 'Berg', 'anna.berg@example.com', 'Analyst', '', 'Finance controlling|Month-end close'],
  ['ben.okafor', 'Ben', 'Okafor', 'ben.okafor@example.com', '', 'Process viewer', ''],
];

const FIELD_COLUMN: Record<string, string> = { username: 'username', firstName: 'first_name', lastName: 'last_name', email: 'email', roleId: 'role', licenseTypeId: 'license', addGroupIds: 'groups' };

function normaliseHeader(h: string): string {
  return h
    .replace(/^\uFEFF/, '')
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, '_');
}

/** `;` when the header line has more semicolons than commas (spreadsheets in many locales), else `,`. */
function delimiterOf(firstLine: string): ',' | ';' {
  const count = (c: string) => firstLine.split(c).length - 1;
  return count(';') > count(',') ? ';' : ',';
}

/** Reads the stream's first line without losing anything, and returns the rest as an iterable. */
async function peekFirstLine(stream: Readable): Promise<{ first: string; chunks: AsyncIterable<Buffer> }> {
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head: Buffer[] = [];
  let text = '';
  while (!/[\r\n]/.test(text) && text.length < 64 * 1024) {
    const next = await iterator.next();
    if (next.done) break;
    head.push(next.value);
    text += next.value.toString('utf8');
  }
  return {
    first: text.split(/\r?\n|\r/)[0] ?? '',
    chunks: (async function* () {
      yield* head;
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        yield next.value;
      }
    })(),
  };
}

interface Lookups {
  roles: Map<string, Role>;
  defaultRole?: Role;
  licenses: Map<string, licensesRepo.LicenseType>;
  roleBlockers: Map<number, string | null>;
  groups: Map<string, { id: number; name: string } | null>;
  groupBlockers: Map<number, string | null>;
}

async function lookups(db: Conn): Promise<Lookups> {
  const roles = new Map<string, Role>();
  let defaultRole: Role | undefined;
  for (const r of await rolesRepo.all(db)) {
    roles.set(r.name.toLowerCase(), r);
    if (r.isDefault) defaultRole = r;
  }
  const licenses = new Map<string, licensesRepo.LicenseType>();
  for (const l of await licensesRepo.all(db)) {
    licenses.set(l.name.toLowerCase(), l);
    licenses.set(l.key.toLowerCase(), l);
  }
  return { roles, defaultRole, licenses, roleBlockers: new Map(), groups: new Map(), groupBlockers: new Map() };
}

async function loadGroups(db: Conn, l: Lookups, names: string[]): Promise<void> {
  const missing = [...new Set(names.map((n) => n.toLowerCase()))].filter((n) => !l.groups.has(n));
  if (!missing.length) return;
  const found = await repo.groupsByName(db, missing);
  for (const n of missing) l.groups.set(n, found.get(n) ?? null);
}

/**
 * Checks one batch of rows; fills `taken` with the usernames/emails the file itself uses (a later row
 * repeating one is refused).
 */
async function checkBatch(db: Conn, actor: Actor, l: Lookups, batch: Array<{ line: number; cells: Record<string, string> }>, seen: { usernames: Map<string, number>; emails: Map<string, number> }, withGroups: boolean): Promise<ImportRow[]> {
  await loadGroups(db, l, withGroups ? batch.flatMap((r) => splitGroups(r.cells.groups ?? '')) : []);
  const takenNames = await repo.takenUsernames(db, batch.map((r) => (r.cells.username ?? '').trim().toLowerCase()).filter(Boolean));
  const takenEmails = await repo.takenEmails(db, batch.map((r) => (r.cells.email ?? '').trim().toLowerCase()).filter(Boolean));
  const policy = policyFor(db, actor);
  const out: ImportRow[] = [];
  for (const { line, cells } of batch) {
    const messages: string[] = [];
    const data: ImportData = {
      username: (cells.username ?? '').trim(),
      firstName: (cells.first_name ?? '').trim(),
      lastName: (cells.last_name ?? '').trim(),
      email: (cells.email ?? '').trim(),
      role: (cells.role ?? '').trim(),
      license: (cells.license ?? '').trim(),
      groups: withGroups ? splitGroups(cells.groups ?? '') : [],
    };
    if (Object.values(cells).some((v) => v.includes('\uFFFD'))) messages.push('This row is not valid UTF-8: save the file as “CSV UTF-8” and upload it again.');
    // The role and license are named in the file; the form's schema checks the ids they stand for.
    let role: Role | undefined;
    if (data.role) {
      role = l.roles.get(data.role.toLowerCase());
      if (!role) messages.push(`role: There is no role “${data.role}”.`);
    } else {
      role = l.defaultRole;
      if (!role) messages.push('role: No role is marked as default; name one.');
    }
    if (role) {
      if (!l.roleBlockers.has(role.id)) l.roleBlockers.set(role.id, await assignmentBlocker(db, actor, role));
      const blocker = l.roleBlockers.get(role.id);
      if (blocker) messages.push(`role: ${blocker}`);
      data.role = role.name;
      data.roleId = role.id;
    }
    const license = data.license ? l.licenses.get(data.license.toLowerCase()) : role ? [...l.licenses.values()].find((x) => x.id === role!.licenseTypeId) : undefined;
    if (data.license && !license) messages.push(`license: There is no license “${data.license}”.`);
    if (license) {
      data.license = license.name;
      data.licenseTypeId = license.id;
    }
    const groupIds: number[] = [];
    for (const name of data.groups) {
      const g = l.groups.get(name.toLowerCase());
      if (!g) {
        messages.push(`groups: There is no group named “${name}”.`);
        continue;
      }
      if (!l.groupBlockers.has(g.id)) {
        const b = await policy.membershipBlocker({ name: g.name, permissionCount: await domainPermissionCount(db, g.id) });
        l.groupBlockers.set(g.id, b ? b.message : null);
      }
      const blocker = l.groupBlockers.get(g.id);
      if (blocker) messages.push(`groups: ${blocker}`);
      groupIds.push(g.id);
    }
    data.groupIds = [...new Set(groupIds)];
    try {
      validate(createUserSchema, { username: data.username, firstName: data.firstName, lastName: data.lastName, email: data.email, password: '', roleId: data.roleId, licenseTypeId: data.licenseTypeId, addGroupIds: data.groupIds });
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      for (const [field, message] of Object.entries(e.fields)) messages.push(`${FIELD_COLUMN[field] ?? field}: ${message}`);
    }
    const username = data.username.toLowerCase();
    const email = data.email.toLowerCase();
    if (username) {
      if (takenNames.has(username)) messages.push(`username: A user named “${data.username}” already exists.`);
      else if (seen.usernames.has(username)) messages.push(`username: “${data.username}” is also on line ${seen.usernames.get(username)}.`);
      else seen.usernames.set(username, line);
    }
    if (email) {
      const owner = takenEmails.get(email);
      if (owner) messages.push(`email: ${owner} already has the email address ${data.email}.`);
      else if (seen.emails.has(email)) messages.push(`email: ${data.email} is also on line ${seen.emails.get(email)}.`);
      else seen.emails.set(email, line);
    }
    out.push({ line, outcome: messages.length ? 'error' : 'ok', data, messages });
  }
  return out;
}

function splitGroups(cell: string): string[] {
  return cell
    .split(GROUP_SEPARATOR)
    .map((g) => g.trim().replace(/\s+/g, ' '))
    .filter(Boolean);
}

export interface CheckOptions {
  withGroups: boolean;
}

/**
 * The dry run: reads the file and keeps every row with its outcome. Returns the import's id. A file that
 * cannot be read as a table of users at all is refused with a ValidationError on `file`.
 */
export async function checkFile(db: Db, actor: Actor, upload: { filename: string; stream: Readable & { truncated?: boolean } }, options: CheckOptions): Promise<string> {
  const { first, chunks } = await peekFirstLine(upload.stream);
  const header = first.replace(/^\uFEFF/, '');
  if (!header.trim()) throw new ValidationError({ file: 'The file is empty. Start from the template: its first line names the columns.' });
  const delimiter = delimiterOf(header);
  const parser = parse({ bom: true, delimiter, relax_column_count: true, skip_empty_lines: true, info: true, columns: (h: string[]) => h.map(normaliseHeader), max_record_size: 64 * 1024 });
  const source = (async () => {
    for await (const c of chunks) if (!parser.write(c)) await new Promise((r) => parser.once('drain', r));
    parser.end();
  })();
  source.catch((e) => parser.destroy(e as Error));

  const now = Date.now();
  const id = randomBytes(16).toString('hex');
  await repo.removeImportsBefore(db, now - KEEP_MS);
  await repo.insertImport(db, { id, actorId: actor.id, fileName: upload.filename || 'upload.csv', now });
  const l = await lookups(db);
  const seen = { usernames: new Map<string, number>(), emails: new Map<string, number>() };
  const wantLicense = new Map<number, number[]>();
  let columns: string[] | undefined;
  let batch: Array<{ line: number; cells: Record<string, string> }> = [];
  let total = 0;
  let valid = 0;
  const flush = async () => {
    const rows = await checkBatch(db, actor, l, batch, seen, options.withGroups);
    for (const r of rows) {
      if (r.outcome !== 'ok') continue;
      valid++;
      if (r.data.licenseTypeId) {
        if (!wantLicense.has(r.data.licenseTypeId)) wantLicense.set(r.data.licenseTypeId, []);
        wantLicense.get(r.data.licenseTypeId)!.push(r.line);
      }
    }
    await repo.insertRows(db, id, rows);
    batch = [];
  };
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
      if (!columns) {
        columns = Object.keys(record);
        const missing = REQUIRED_COLUMNS.filter((c) => !columns!.includes(c));
        if (missing.length) {
          throw new ValidationError({ file: `The first line must name the columns; ${missing.map((m) => `“${m}”`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing. Start from the template.` });
        }
      }
      total++;
      if (total > IMPORT_MAX_ROWS) throw new ValidationError({ file: `The file has more than ${IMPORT_MAX_ROWS.toLocaleString('en-US')} rows: split it into several files.` });
      const cells: Record<string, string> = {};
      for (const [k, v] of Object.entries(record)) cells[k] = unneutralise(String(v ?? '').trim());
      batch.push({ line: info.lines, cells });
      if (batch.length >= BATCH) await flush();
    }
    if (batch.length) await flush();
  } catch (e) {
    await repo.removeImport(db, id);
    if (e instanceof ValidationError) throw e;
    const code = (e as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('CSV_')) {
      throw new ValidationError({ file: `The file is not valid CSV: ${(e as Error).message.replace(/^Invalid Record Length: /, '')}` });
    }
    throw e;
  }
  if (upload.stream.truncated) {
    await repo.removeImport(db, id);
    throw new ValidationError({ file: 'The file is too large (64 MB at most): split it into several files.' });
  }
  if (!total) {
    await repo.removeImport(db, id);
    throw new ValidationError({ file: 'The file has a header line but no users.' });
  }
  // Seats, over the whole file: the first rows in the file get the seats that are left.
  for (const [licenseId, lines] of wantLicense) {
    const license = await licensesRepo.findById(db, licenseId);
    if (!license || license.seatLimit === null) continue;
    const left = Math.max(0, license.seatLimit - (await licensesRepo.seatsAssigned(db, licenseId)));
    if (lines.length > left) {
      await repo.markProblems(db, id, lines.slice(left), `license: No ${license.name} seats left for this row: ${left.toLocaleString('en-US')} left, ${lines.length.toLocaleString('en-US')} rows want one.`);
      valid -= lines.length - left;
    }
  }
  const ignored = (columns ?? []).filter((c) => !(IMPORT_COLUMNS as readonly string[]).includes(c) || (c === 'groups' && !options.withGroups));
  await repo.finishCheck(db, id, {
    total,
    valid,
    summary: { delimiter, withGroups: options.withGroups, ignoredColumns: ignored.filter((c) => !EXPORT_ONLY.includes(c)), descriptiveColumns: ignored.filter((c) => EXPORT_ONLY.includes(c)) },
  });
  return id;
}

export async function findImport(db: Conn, actor: Actor, id: string): Promise<repo.ImportHeader | undefined> {
  if (!/^[0-9a-f]{32}$/.test(id)) return undefined;
  const h = await repo.findImport(db, id);
  if (!h || h.state === 'checking' as string || (h.actorId !== actor.id && !actor.isSuperuser)) return undefined;
  return h;
}

export interface ImportResult {
  created: number;
  memberships: number;
  /** Rows the dry run passed that failed when imported, with the reason. */
  sinceCheck: Array<{ line: number; username: string; reason: string }>;
}

/** Imports the rows that passed the dry run, in one transaction, checking them again. */
export async function confirmImport(db: Db, actor: Actor, id: string): Promise<ImportResult> {
  const header = await findImport(db, actor, id);
  if (!header) throw new HttpError(404, 'not_found', 'That import is not there any more: upload the file again.');
  return transaction(db, async (trx) => {
    if (!(await repo.claim(trx, id))) throw new HttpError(409, 'conflict', 'This file has already been imported.');
    const l = await lookups(trx);
    const policy = policyFor(trx, actor);
    const sinceCheck: ImportResult['sinceCheck'] = [];
    const accepted: ImportRow[] = [];
    for await (const batch of repo.eachRow(trx, id, 'ok')) {
      const takenNames = await repo.takenUsernames(trx, batch.map((r) => r.data.username.toLowerCase()));
      const takenEmails = await repo.takenEmails(trx, batch.map((r) => r.data.email.toLowerCase()));
      await loadGroups(trx, l, batch.flatMap((r) => r.data.groups));
      for (const r of batch) {
        const fail = (reason: string) => sinceCheck.push({ line: r.line, username: r.data.username, reason });
        const role = [...l.roles.values()].find((x) => x.id === r.data.roleId);
        if (takenNames.has(r.data.username.toLowerCase())) fail(`A user named “${r.data.username}” was created meanwhile.`);
        else if (takenEmails.has(r.data.email.toLowerCase())) fail(`${takenEmails.get(r.data.email.toLowerCase())} took the email address ${r.data.email} meanwhile.`);
        else if (!role) fail(`The role ${r.data.role} was removed meanwhile.`);
        else if (r.data.groups.some((g) => !l.groups.get(g.toLowerCase()))) fail('One of its groups was removed meanwhile.');
        else {
          if (!l.roleBlockers.has(role.id)) l.roleBlockers.set(role.id, await assignmentBlocker(trx, actor, role));
          const blocker = l.roleBlockers.get(role.id);
          if (blocker) fail(blocker);
          else accepted.push({ ...r, data: { ...r.data, groupIds: r.data.groups.map((g) => l.groups.get(g.toLowerCase())!.id) } });
        }
      }
    }
    for (const groupId of new Set(accepted.flatMap((r) => r.data.groupIds ?? []))) {
      const g = [...l.groups.values()].find((x) => x?.id === groupId)!;
      const b = await policy.membershipBlocker({ name: g.name, permissionCount: await domainPermissionCount(trx, groupId) });
      if (b) throw new ValidationError({ file: b.message }, b.message, 403);
    }
    // Seats, under each license's guard: the first rows of the file get what is left now.
    const byLicense = new Map<number, ImportRow[]>();
    for (const r of accepted) {
      if (!byLicense.has(r.data.licenseTypeId!)) byLicense.set(r.data.licenseTypeId!, []);
      byLicense.get(r.data.licenseTypeId!)!.push(r);
    }
    const dropped = new Set<number>();
    for (const licenseId of [...byLicense.keys()].sort((a, b) => a - b)) {
      await guard(trx, `license:${licenseId}`);
      const license = (await licensesRepo.findById(trx, licenseId))!;
      const wanting = byLicense.get(licenseId)!;
      if (license.seatLimit !== null) {
        const left = Math.max(0, license.seatLimit - (await licensesRepo.seatsAssigned(trx, licenseId)));
        for (const r of wanting.slice(left)) {
          dropped.add(r.line);
          sinceCheck.push({ line: r.line, username: r.data.username, reason: `No ${license.name} seats left any more.` });
        }
      }
      const taking = wanting.filter((r) => !dropped.has(r.line)).length;
      if (taking) await assertSeatAvailable(trx, licenseId, 'license', taking);
    }
    const creating = accepted.filter((r) => !dropped.has(r.line));
    const now = Date.now();
    const ids = await repo.insertUsers(
      trx,
      creating.map((r) => ({ username: r.data.username, firstName: r.data.firstName, lastName: r.data.lastName, email: r.data.email, passwordHash: null, roleId: r.data.roleId!, licenseTypeId: r.data.licenseTypeId! })),
      now,
    );
    const pairs: Array<[number, number]> = [];
    for (const r of creating) for (const g of r.data.groupIds ?? []) pairs.push([g, ids.get(r.data.username.toLowerCase())!]);
    await repo.insertMemberships(trx, pairs, now);
    for (const g of new Set(pairs.map(([gid]) => gid))) await bumpGroupVersion(trx, g);
    // Each new account (with its memberships) for the decision state; a very large file records one rebuild.
    await recordChanges(trx, 'user', ids.values());
    if (creating.length) {
      await audit.record(trx, actor, {
        action: 'user.import',
        objectType: 'user',
        objectId: '',
        objectLabel: `${creating.length.toLocaleString('en-US')} user${creating.length === 1 ? '' : 's'} from ${header.fileName}`.slice(0, 255),
        after: { count: creating.length, file: header.fileName, users: creating.map((r) => r.data.username), memberships: pairs.length },
      });
    }
    sinceCheck.sort((a, b) => a.line - b.line);
    const result: ImportResult = { created: creating.length, memberships: pairs.length, sinceCheck };
    await repo.setSummary(trx, id, { ...header.summary, result });
    return result;
  });
}
