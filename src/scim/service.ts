/**
 * The SCIM operations. Every change goes through the users and groups services (validation, seats, the
 * who-may-change-whom rule, audit, change log) inside one `transaction()`, acting as the caller.
 */
import { scimPatch, ScimError as PatchLibraryError, NoTarget } from 'scim-patch';
import type { Conn, Db } from '../db/connect';
import { transaction } from '../db/transaction';
import { HttpError, ValidationError } from '../http/errors';
import type { Actor } from '../http/types';
import * as audit from '../audit/service';
import * as usersRepo from '../users/repo';
import type { User } from '../users/repo';
import * as users from '../users/service';
import * as groupsRepo from '../groups/repo';
import * as groups from '../groups/service';
import * as repo from './repo';
import { booleanValue, type ResourceKind } from './repo';
import type { ScimCaller } from './auth';
import { ScimError, asScimError, invalidSyntax, invalidValue, mutability, noTarget, scimNotFound } from './errors';
import { attributeKey, parseFilter, project, projection as projectionFrom, returns, type Projection } from './filter';
import { groupResource, userResource, versionOf } from './resources';
import { DEFAULT_COUNT, GATEHOUSE_USER_SCHEMA, LIST_SCHEMA, MAX_COUNT, MAX_OPERATIONS, MAX_PATCH_MEMBERS, PATCH_SCHEMA } from './schemas';
import { parse as parseFilterText, type Filter } from 'scim2-parse-filter';

type Json = Record<string, unknown>;

const GATEHOUSE = GATEHOUSE_USER_SCHEMA.toLowerCase();

/** A resource id from the path: our ids are positive integers; anything else names nothing. */
function parseId(raw: string, kind: 'User' | 'Group'): number {
  if (!/^[0-9]{1,10}$/.test(raw) || Number(raw) < 1 || Number(raw) > 2147483647) throw scimNotFound(kind, raw);
  return Number(raw);
}

function asObject(body: unknown, what = 'The request body'): Json {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalidSyntax(`${what} must be a JSON object.`);
  return body as Json;
}

/** A member of an object by attribute name, ignoring case (RFC 7643 §2.1). */
function field(o: Json | undefined, name: string): unknown {
  if (!o) return undefined;
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(o)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

function optionalText(value: unknown, attribute: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidValue(`${attribute} must be a string.`);
  return value;
}

/** If-Match: the resource's version must be the one named (a weak or strong ETag, or `*`). */
function checkPrecondition(ifMatch: string | undefined, version: number): number | undefined {
  if (!ifMatch) return undefined;
  const wanted = ifMatch.split(',').map((v) => versionOf(v));
  if (wanted.includes('*')) return version;
  if (!wanted.includes(version)) throw new ScimError(412, `The resource has changed: its version is W/"${version}", not ${ifMatch}. Read it again and retry.`);
  return version;
}

/** Runs a SCIM change in one transaction, with the services' errors as SCIM errors. */
async function change<T>(db: Db, ifMatch: string | undefined, work: (trx: Conn) => Promise<T>): Promise<T> {
  try {
    return await transaction(db, work);
  } catch (e) {
    throw e instanceof ScimError ? e : asScimError(e, !!ifMatch);
  }
}

// --------------------------------------------------------------------------------------------------- lists

export interface ListParams {
  filter?: string;
  startIndex?: string;
  count?: string;
  sortBy?: string;
  sortOrder?: string;
  attributes?: string;
  excludedAttributes?: string;
}

function positiveInteger(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  if (!/^-?[0-9]{1,10}$/.test(raw)) throw invalidValue(`${name} must be an integer.`);
  return Number(raw);
}

export async function list(db: Db, kind: ResourceKind, params: ListParams, base: string): Promise<Json> {
  const filter = params.filter !== undefined && params.filter.trim() !== '' ? parseFilter(params.filter) : undefined;
  // RFC 7644 §3.4.2.4: a startIndex below 1 is read as 1, a negative count as 0; more than the maximum is capped.
  const startIndex = Math.max(1, positiveInteger(params.startIndex, 'startIndex', 1));
  const count = Math.min(MAX_COUNT, Math.max(0, positiveInteger(params.count, 'count', DEFAULT_COUNT)));
  const sortBy = params.sortBy ? repo.sortColumn(kind, params.sortBy) : undefined;
  if (params.sortBy && !sortBy) throw invalidValue(`Sorting by "${params.sortBy}" is not supported (see /Schemas).`);
  if (params.sortOrder && !/^(ascending|descending)$/i.test(params.sortOrder)) throw invalidValue('sortOrder is "ascending" or "descending".');
  const p = projectionOf(kind, params);
  const page = await repo.findPage(db, kind, { filter, sortBy, descending: /^descending$/i.test(params.sortOrder ?? ''), startIndex, count });
  const resources = kind === 'User' ? await userResources(db, page.ids, p, base) : await groupResources(db, page.ids, p, base);
  return { schemas: [LIST_SCHEMA], totalResults: page.total, startIndex, itemsPerPage: resources.length, Resources: resources };
}
const projectionOf = (kind: ResourceKind, params: { attributes?: string; excludedAttributes?: string }) => projectionFrom(kind, params.attributes, params.excludedAttributes);

async function userResources(db: Conn, ids: number[], p: Projection, base: string): Promise<Json[]> {
  const found = await repo.usersByIds(db, ids);
  const memberships = returns(p, 'groups') ? await repo.groupsOfUsers(db, ids) : undefined;
  return found.map((u) => project(userResource(u, memberships?.get(u.id) ?? (memberships ? [] : undefined), base), p));
}

async function groupResources(db: Conn, ids: number[], p: Projection, base: string): Promise<Json[]> {
  const found = await repo.groupsByIds(db, ids);
  // A group of 20,000 members is read whole only when the directory asks for its members.
  const members = returns(p, 'members') ? await repo.membersOfGroups(db, ids) : undefined;
  return found.map((g) => project(groupResource(g, members?.get(g.id) ?? (members ? [] : undefined), base), p));
}

export async function getUser(db: Conn, rawId: string, params: ListParams, base: string): Promise<{ resource: Json; version: number }> {
  const id = parseId(rawId, 'User');
  const u = await usersRepo.findById(db, id);
  if (!u) throw scimNotFound('User', rawId);
  const [resource] = await userResources(db, [id], projectionOf('User', params), base);
  return { resource, version: u.version };
}

export async function getGroup(db: Conn, rawId: string, params: ListParams, base: string): Promise<{ resource: Json; version: number }> {
  const id = parseId(rawId, 'Group');
  const [g] = await repo.groupsByIds(db, [id]);
  if (!g) throw scimNotFound('Group', rawId);
  const [resource] = await groupResources(db, [id], projectionOf('Group', params), base);
  return { resource, version: g.version };
}

// ------------------------------------------------------------------------------------------------- users

/** What a SCIM user resource asks Gatehouse to keep. Undefined: leave as it is. */
interface UserState {
  userName?: string;
  firstName?: string;
  lastName?: string;
  email?: string;
  active?: boolean;
  externalId?: string | null;
  role?: string;
  license?: string;
  password?: string;
}

/** The primary address (Gatehouse keeps one), preferring one that differs from `current` (a changed address). */
function primaryEmail(emails: unknown, current?: string): string | undefined {
  if (emails === undefined || emails === null) return undefined;
  const list = (Array.isArray(emails) ? emails : [emails]).map((e) => (typeof e === 'string' ? { value: e } : asObject(e, 'An email')));
  const values = list
    .map((e) => ({ value: optionalText(field(e, 'value'), 'emails.value'), primary: booleanValue(field(e, 'primary')) === true }))
    .filter((e): e is { value: string; primary: boolean } => !!e.value);
  if (!values.length) throw invalidValue('emails must hold an address: Gatehouse needs one.');
  const changed = values.filter((e) => e.value !== current);
  return (changed.find((e) => e.primary) ?? values.find((e) => e.primary && e.value === current) ?? changed[changed.length - 1] ?? values[0]).value;
}

function readUserState(body: Json, current?: User): UserState {
  const name = field(body, 'name');
  if (name !== undefined && name !== null && (typeof name !== 'object' || Array.isArray(name))) throw invalidValue('name must be an object with givenName and familyName.');
  const nameObject = (name ?? undefined) as Json | undefined;
  const active = field(body, 'active');
  const activeValue = active === undefined || active === null ? undefined : booleanValue(active);
  if (active !== undefined && active !== null && activeValue === undefined) throw invalidValue('active must be true or false.');
  const extension = field(body, GATEHOUSE_USER_SCHEMA);
  const ext = extension && typeof extension === 'object' ? (extension as Json) : undefined;
  const externalId = field(body, 'externalId');
  return {
    userName: optionalText(field(body, 'userName'), 'userName'),
    firstName: optionalText(field(nameObject, 'givenName'), 'name.givenName'),
    lastName: optionalText(field(nameObject, 'familyName'), 'name.familyName'),
    email: primaryEmail(field(body, 'emails'), current?.email),
    active: activeValue,
    externalId: externalId === null ? null : optionalText(externalId, 'externalId'),
    role: optionalText(field(ext, 'role') ?? field(body, `${GATEHOUSE_USER_SCHEMA}:role`), 'role'),
    license: optionalText(field(ext, 'license') ?? field(body, `${GATEHOUSE_USER_SCHEMA}:license`), 'license'),
    password: optionalText(field(body, 'password'), 'password'),
  };
}

async function roleAndLicense(db: Conn, s: UserState): Promise<{ roleId?: number; licenseTypeId?: number }> {
  const out: { roleId?: number; licenseTypeId?: number } = {};
  if (s.role !== undefined) {
    out.roleId = await repo.findRoleId(db, s.role);
    if (!out.roleId) throw invalidValue(`role: there is no role "${s.role}".`);
  }
  if (s.license !== undefined) {
    out.licenseTypeId = await repo.findLicenseId(db, s.license);
    if (!out.licenseTypeId) throw invalidValue(`license: there is no license type "${s.license}".`);
  }
  return out;
}

export async function createUser(db: Db, caller: ScimCaller, body: unknown, scryptN: number): Promise<User> {
  const s = readUserState(asObject(body));
  if (!s.userName) throw invalidValue('userName is required.');
  if (s.firstName === undefined || s.lastName === undefined) throw invalidValue('name.givenName and name.familyName are required.');
  if (s.email === undefined) throw invalidValue('emails is required: Gatehouse needs an address.');
  return change(db, undefined, async (trx) => {
    const { roleId, licenseTypeId } = await roleAndLicense(trx, s);
    const created = await users.createUser(
      trx,
      caller.actor,
      { username: s.userName, firstName: s.firstName, lastName: s.lastName, email: s.email, password: s.password ?? '', roleId, licenseTypeId, addGroupIds: [], externalId: s.externalId ?? null },
      scryptN,
      { passwordOptional: true },
    );
    return s.active === false ? users.setStatus(trx, caller.actor, created.id, 'deactivated') : created;
  });
}

/** Brings a user to the state asked for: the user form's save, then the status (which ends sessions). */
async function applyUserState(trx: Conn, caller: ScimCaller, before: User, s: UserState, scryptN: number, version: number | undefined): Promise<User> {
  if (s.userName !== undefined && s.userName !== before.username) {
    throw mutability(`userName cannot be changed after creation (it is "${before.username}").`);
  }
  const { roleId, licenseTypeId } = await roleAndLicense(trx, s);
  let after = await users.updateUser(
    trx,
    caller.actor,
    before.id,
    {
      firstName: s.firstName ?? before.firstName,
      lastName: s.lastName ?? before.lastName,
      email: s.email ?? before.email,
      password: s.password ?? '',
      roleId: roleId ?? before.roleId ?? undefined,
      licenseTypeId: licenseTypeId ?? before.licenseTypeId ?? undefined,
      addGroupIds: [],
      removeGroupIds: [],
      version: version ?? before.version,
      externalId: s.externalId,
    },
    scryptN,
  );
  if (s.active !== undefined && s.active !== (after.status === 'active')) after = await users.setStatus(trx, caller.actor, before.id, s.active ? 'active' : 'deactivated');
  return after;
}

async function requireScimUser(trx: Conn, rawId: string): Promise<User> {
  const u = await usersRepo.findById(trx, parseId(rawId, 'User'));
  if (!u) throw scimNotFound('User', rawId);
  return u;
}

/** PUT: the resource as sent. Attributes left out keep their values (Okta sends whole profiles, Entra never PUTs). */
export async function replaceUser(db: Db, caller: ScimCaller, rawId: string, body: unknown, ifMatch: string | undefined, scryptN: number): Promise<User> {
  const object = asObject(body);
  return change(db, ifMatch, async (trx) => {
    const before = await requireScimUser(trx, rawId);
    const version = checkPrecondition(ifMatch, before.version);
    const s = readUserState(object, before);
    if (s.userName !== undefined && s.userName.toLowerCase() === before.username.toLowerCase()) s.userName = before.username;
    return applyUserState(trx, caller, before, s, scryptN, version);
  });
}

interface PatchOperation {
  op: 'add' | 'replace' | 'remove';
  path?: string;
  value?: unknown;
}

/** The Operations of a PatchOp body, ops lower-cased (Entra ID sends "Replace", "Add"). */
function patchOperations(body: unknown): PatchOperation[] {
  const o = asObject(body);
  const schemas = field(o, 'schemas');
  if (Array.isArray(schemas) && !schemas.some((s) => typeof s === 'string' && s.toLowerCase() === PATCH_SCHEMA.toLowerCase())) {
    throw invalidSyntax(`A PATCH body names the schema ${PATCH_SCHEMA}.`);
  }
  const ops = field(o, 'Operations');
  if (!Array.isArray(ops) || !ops.length) throw invalidSyntax('Operations must be a non-empty list.');
  if (ops.length > MAX_OPERATIONS) throw new ScimError(413, `At most ${MAX_OPERATIONS} operations per request.`);
  return ops.map((raw, i) => {
    const op = asObject(raw, `Operation ${i + 1}`);
    const kind = field(op, 'op');
    if (typeof kind !== 'string' || !/^(add|replace|remove)$/i.test(kind)) throw invalidSyntax(`Operation ${i + 1}: op is add, replace or remove.`);
    const path = field(op, 'path');
    if (path !== undefined && path !== null && (typeof path !== 'string' || !path.trim())) throw invalidSyntax(`Operation ${i + 1}: path must be a string.`);
    const lower = kind.toLowerCase() as PatchOperation['op'];
    if (lower === 'remove' && !path) throw noTarget(`Operation ${i + 1}: remove needs a path.`);
    if (lower !== 'remove' && field(op, 'value') === undefined) throw invalidSyntax(`Operation ${i + 1}: ${lower} needs a value.`);
    return { op: lower, path: typeof path === 'string' ? path.trim() : undefined, value: field(op, 'value') };
  });
}

/** Operations without a path carry an object of attributes (some with dotted keys, "name.givenName"): one operation per attribute. */
function perAttribute(ops: PatchOperation[]): Array<PatchOperation & { path: string }> {
  const out: Array<PatchOperation & { path: string }> = [];
  for (const o of ops) {
    if (o.path) {
      out.push(o as PatchOperation & { path: string });
      continue;
    }
    for (const [key, value] of Object.entries(asObject(o.value, 'The value of an operation without a path'))) {
      if (key.toLowerCase() === GATEHOUSE && value && typeof value === 'object' && !Array.isArray(value)) {
        for (const [sub, v] of Object.entries(value as Json)) out.push({ op: o.op, path: `${GATEHOUSE_USER_SCHEMA}:${sub}`, value: v });
      } else out.push({ op: o.op, path: key, value });
    }
  }
  return out;
}

const USER_NAMES: Record<string, string> = {
  username: 'userName',
  name: 'name',
  givenname: 'givenName',
  familyname: 'familyName',
  emails: 'emails',
  value: 'value',
  type: 'type',
  primary: 'primary',
  active: 'active',
  externalid: 'externalId',
};

/** A path with our spelling of every attribute name, outside quoted strings (scim-patch matches names exactly). */
function canonicalUserPath(path: string): string {
  const key = attributeKey(path, 'User');
  if (key.startsWith(`${GATEHOUSE}:`)) return `${GATEHOUSE_USER_SCHEMA}:${key.slice(GATEHOUSE.length + 1)}`;
  const pieces = key === path.toLowerCase() ? path : path.slice(path.length - key.length);
  return pieces.replace(/"(?:[^"\\]|\\.)*"|[A-Za-z$]+/g, (w) => (w.startsWith('"') ? w : USER_NAMES[w.toLowerCase()] ?? w));
}

function patchError(e: unknown): ScimError {
  if (e instanceof ScimError) return e;
  if (e instanceof NoTarget) return noTarget(e.message);
  if (e instanceof PatchLibraryError) return invalidValue(e.message);
  if (e instanceof HttpError) throw e;
  return invalidValue(e instanceof Error ? e.message : 'The operation could not be applied.');
}

export async function patchUser(db: Db, caller: ScimCaller, rawId: string, body: unknown, ifMatch: string | undefined, scryptN: number, base: string): Promise<User> {
  const ops = perAttribute(patchOperations(body));
  return change(db, ifMatch, async (trx) => {
    const before = await requireScimUser(trx, rawId);
    const version = checkPrecondition(ifMatch, before.version);
    const resource = userResource(before, undefined, base) as Json & { meta: never; schemas: string[] };
    const applicable: Array<{ op: PatchOperation['op']; path: string; value?: unknown }> = [];
    let password: string | undefined;
    for (const o of ops) {
      const key = attributeKey(o.path, 'User');
      const root = key.startsWith(`${GATEHOUSE}:`) ? key : key.split(/[.[]/)[0];
      if (root === 'username') {
        // Sending the same userName again (in any case) changes nothing; another one is refused.
        if (o.op === 'remove' || typeof o.value !== 'string' || o.value.toLowerCase() !== before.username.toLowerCase()) {
          throw mutability(`userName cannot be changed after creation (it is "${before.username}").`);
        }
      } else if (root === 'id' && o.op !== 'remove' && String(o.value) === String(before.id)) {
        // Okta repeats the id in its value objects: unchanged, nothing to do.
      } else if (root === 'groups' || root === 'id' || root === 'meta') {
        throw mutability(`${o.path} is read-only${root === 'groups' ? ': change memberships through /Groups' : ''}.`);
      } else if (root === 'password') {
        if (o.op === 'remove' || typeof o.value !== 'string') throw invalidValue('password: send the new password as a string.');
        password = o.value;
      } else if (['name', 'emails', 'active', 'externalid', `${GATEHOUSE}:role`, `${GATEHOUSE}:license`].includes(root)) {
        applicable.push({ op: o.op, path: canonicalUserPath(o.path), value: o.value });
      }
      // Anything else (phoneNumbers, the enterprise extension…) is not kept by Gatehouse: ignored, as /Schemas says.
    }
    let patched: Json;
    try {
      patched = scimPatch(resource as never, applicable as never, { mutateDocument: true, treatMissingAsAdd: true }) as unknown as Json;
    } catch (e) {
      throw patchError(e);
    }
    const s = readUserState(patched, before);
    // Attributes Gatehouse needs cannot be removed; externalId can.
    if (s.email === undefined) throw invalidValue('emails: Gatehouse needs an address; replace it instead of removing it.');
    if (s.firstName === undefined || s.lastName === undefined) throw invalidValue('name.givenName and name.familyName are required; replace them instead of removing them.');
    if (!('externalId' in patched)) s.externalId = null;
    s.password = password;
    return applyUserState(trx, caller, before, s, scryptN, version);
  });
}

/** Settings key of the user who receives the assets of users deleted through SCIM. */
export async function assetReceiver(db: Conn): Promise<string | undefined> {
  return repo.readSetting(db, repo.ASSET_RECEIVER_SETTING);
}

export async function setAssetReceiver(db: Db, actor: Actor, raw: unknown): Promise<string | undefined> {
  const input = (raw ?? {}) as { receiver?: unknown };
  const username = typeof input.receiver === 'string' ? input.receiver.trim() : '';
  return transaction(db, async (trx) => {
    const before = await repo.readSetting(trx, repo.ASSET_RECEIVER_SETTING);
    let stored: string | undefined;
    if (username) {
      const u = await usersRepo.findByUsername(trx, username);
      if (!u) throw new ValidationError({ receiver: `There is no user "${username}".` });
      if (u.status !== 'active') throw new ValidationError({ receiver: `${u.username} is deactivated: choose an active user.` });
      stored = u.username;
    }
    if (stored === before) return stored;
    await repo.writeSetting(trx, repo.ASSET_RECEIVER_SETTING, stored);
    await audit.record(trx, actor, { action: 'scim.asset_receiver', objectType: 'setting', objectId: repo.ASSET_RECEIVER_SETTING, objectLabel: 'SCIM asset receiver', before: { receiver: before ?? null }, after: { receiver: stored ?? null } });
    return stored;
  });
}

/**
 * DELETE: removes the user as the console does. Their assets go to the receiving user a Superuser set on
 * the SCIM settings page; without one, a user who owns assets is not removed (deactivate instead).
 */
export async function deleteUser(db: Db, caller: ScimCaller, rawId: string, ifMatch: string | undefined): Promise<void> {
  await change(db, ifMatch, async (trx) => {
    const before = await requireScimUser(trx, rawId);
    checkPrecondition(ifMatch, before.version);
    const receiver = await assetReceiver(trx);
    try {
      await users.deleteUser(trx, caller.actor, before.id, receiver ? { assets: 'transfer', transferTo: receiver } : { assets: 'none' });
    } catch (e) {
      if (e instanceof ValidationError && (e.fields.assets || e.fields.transferTo)) {
        const why = e.fields.transferTo ? `the receiving user "${receiver}" cannot take them (${e.fields.transferTo})` : 'no receiving user is set';
        throw new ScimError(409, `${before.username} owns assets and ${why}: a Superuser sets the user who receives them under Settings → SCIM provisioning, or deactivate the user (active: false) instead.`);
      }
      throw e;
    }
  });
}

// ------------------------------------------------------------------------------------------------ groups

interface MemberDelta {
  add: Set<number>;
  remove: Set<number>;
  /** Set by a replace of all members: the members wanted; add/remove then apply to it. */
  replaceWith?: Set<number>;
  count: number;
}

/** User ids from `members` values: [{value: "42"}, …] (a single object is accepted too). */
function memberIds(value: unknown, delta: MemberDelta): number[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  delta.count += list.length;
  if (delta.count > MAX_PATCH_MEMBERS) throw new ScimError(413, `At most ${MAX_PATCH_MEMBERS} member values per request: send them in several requests.`);
  return list.map((m) => {
    const o = asObject(m, 'A member');
    const type = field(o, 'type');
    if (typeof type === 'string' && type.toLowerCase() === 'group') throw invalidValue('members: groups do not nest in Gatehouse; only users can be members.');
    const v = field(o, 'value');
    if (typeof v !== 'string' && typeof v !== 'number') throw invalidValue('members: each member needs a value (a user id).');
    const s = String(v);
    if (!/^[0-9]{1,10}$/.test(s) || Number(s) < 1 || Number(s) > 2147483647) throw invalidValue(`members: there is no user "${s}".`);
    return Number(s);
  });
}

function addMembers(delta: MemberDelta, ids: number[]) {
  for (const i of ids) {
    delta.remove.delete(i);
    if (delta.replaceWith) delta.replaceWith.add(i);
    else delta.add.add(i);
  }
}

function removeMembers(delta: MemberDelta, ids: number[]) {
  for (const i of ids) {
    delta.add.delete(i);
    if (delta.replaceWith) delta.replaceWith.delete(i);
    else delta.remove.add(i);
  }
}

/** The users a value filter `members[value eq "1" or value eq "2"]` selects (value equality only). */
function filteredMemberIds(filter: Filter): number[] {
  if (filter.op === 'or') return filter.filters.flatMap(filteredMemberIds);
  if (filter.op === 'eq' && filter.attrPath.toLowerCase() === 'value' && (typeof filter.compValue === 'string' || typeof filter.compValue === 'number')) {
    const s = String(filter.compValue);
    return /^[0-9]{1,10}$/.test(s) ? [Number(s)] : [];
  }
  throw new ScimError(400, 'A members path filter compares value with eq (members[value eq "42"]).', 'invalidFilter');
}

interface GroupChange {
  displayName?: string;
  externalId?: string | null;
  members: MemberDelta;
}

function readGroupOperations(ops: PatchOperation[], rawId: string): GroupChange {
  const change: GroupChange = { members: { add: new Set(), remove: new Set(), count: 0 } };
  const d = change.members;
  for (const o of perAttribute(ops)) {
    const valuePath = /^(?:urn:ietf:params:scim:schemas:core:2\.0:group:)?members\s*\[(.*)\]$/is.exec(o.path);
    if (valuePath) {
      if (o.op !== 'remove') throw new ScimError(400, 'Only remove takes a members[…] path; add members with path "members".', 'invalidPath');
      let filter: Filter;
      try {
        filter = parseFilterText(valuePath[1]);
      } catch (e) {
        throw new ScimError(400, `The members filter could not be read: ${(e as Error).message}.`, 'invalidFilter');
      }
      removeMembers(d, filteredMemberIds(filter));
      continue;
    }
    const key = attributeKey(o.path, 'Group');
    if (key === 'members') {
      if (o.op === 'add') addMembers(d, memberIds(o.value, d));
      else if (o.op === 'remove' && o.value === undefined) d.replaceWith = new Set();
      else if (o.op === 'remove') removeMembers(d, memberIds(o.value, d));
      else {
        d.add.clear();
        d.remove.clear();
        d.replaceWith = new Set(memberIds(o.value, d));
      }
    } else if (key === 'displayname') {
      if (o.op === 'remove' || typeof o.value !== 'string') throw invalidValue('displayName is required: send it as a string.');
      change.displayName = o.value;
    } else if (key === 'externalid') {
      change.externalId = o.op === 'remove' ? null : optionalText(o.value, 'externalId') ?? null;
    } else if (key === 'id' && o.op !== 'remove' && String(o.value) === rawId) {
      // Okta repeats the id in its value objects ({"id": …, "displayName": …}): unchanged, nothing to do.
    } else if (key === 'id' || key === 'meta' || key.startsWith('meta.')) {
      throw mutability(`${o.path} is read-only.`);
    }
    // Other attributes are not kept by Gatehouse: ignored, as /Schemas says.
  }
  return change;
}

/** Membership changes as additions and removals of the users named: the group's other members are not read. */
async function applyMembers(trx: Conn, caller: ScimCaller, groupId: number, d: MemberDelta): Promise<void> {
  let add = [...d.add];
  let remove = [...d.remove];
  if (d.replaceWith) {
    const current = new Set(await repo.memberIds(trx, groupId));
    add = [...d.replaceWith].filter((u) => !current.has(u));
    remove = [...current].filter((u) => !d.replaceWith!.has(u));
  }
  if (add.length) {
    const known = await repo.existingUserIds(trx, add);
    const unknown = add.filter((u) => !known.has(u));
    if (unknown.length) throw invalidValue(`members: there is no user ${unknown.slice(0, 5).map((u) => `"${u}"`).join(', ')}${unknown.length > 5 ? ` and ${unknown.length - 5} more` : ''}.`);
  }
  if (add.length || remove.length) await groups.saveMembers(trx, caller.actor, groupId, { add, remove });
}

function readGroupBody(body: unknown): GroupChange {
  const o = asObject(body);
  const displayName = optionalText(field(o, 'displayName'), 'displayName');
  const externalId = field(o, 'externalId');
  const change: GroupChange = {
    displayName,
    externalId: externalId === null ? null : optionalText(externalId, 'externalId'),
    members: { add: new Set(), remove: new Set(), count: 0 },
  };
  const members = field(o, 'members');
  if (members !== undefined) {
    if (members !== null && !Array.isArray(members)) throw invalidValue('members must be a list.');
    change.members.replaceWith = new Set(memberIds(members ?? [], change.members));
  }
  return change;
}

export async function createGroup(db: Db, caller: ScimCaller, body: unknown): Promise<number> {
  const c = readGroupBody(body);
  if (!c.displayName) throw invalidValue('displayName is required.');
  return change(db, undefined, async (trx) => {
    const g = await groups.createGroup(trx, caller.actor, { name: c.displayName, description: '', externalId: c.externalId ?? null });
    if (c.members.replaceWith?.size) await applyMembers(trx, caller, g.id, c.members);
    return g.id;
  });
}

async function lockedGroup(trx: Conn, rawId: string) {
  const g = await groupsRepo.lockById(trx, parseId(rawId, 'Group'));
  if (!g) throw scimNotFound('Group', rawId);
  return g;
}

async function applyGroupChange(trx: Conn, caller: ScimCaller, rawId: string, c: GroupChange, ifMatch: string | undefined): Promise<number> {
  const before = await lockedGroup(trx, rawId);
  checkPrecondition(ifMatch, before.version);
  const name = c.displayName ?? before.name;
  if (name !== before.name || (c.externalId !== undefined && c.externalId !== before.externalId)) {
    await groups.updateDetails(trx, caller.actor, before.id, { name, description: before.description, externalId: c.externalId });
  }
  await applyMembers(trx, caller, before.id, c.members);
  return before.id;
}

/** PUT: displayName and externalId as sent; members replaced when the body holds them (left out: unchanged). */
export async function replaceGroup(db: Db, caller: ScimCaller, rawId: string, body: unknown, ifMatch: string | undefined): Promise<number> {
  const c = readGroupBody(body);
  if (!c.displayName) throw invalidValue('displayName is required.');
  return change(db, ifMatch, (trx) => applyGroupChange(trx, caller, rawId, c, ifMatch));
}

export async function patchGroup(db: Db, caller: ScimCaller, rawId: string, body: unknown, ifMatch: string | undefined): Promise<number> {
  const c = readGroupOperations(patchOperations(body), rawId);
  return change(db, ifMatch, (trx) => applyGroupChange(trx, caller, rawId, c, ifMatch));
}

export async function deleteGroup(db: Db, caller: ScimCaller, rawId: string, ifMatch: string | undefined): Promise<void> {
  await change(db, ifMatch, async (trx) => {
    const before = await lockedGroup(trx, rawId);
    checkPrecondition(ifMatch, before.version);
    await groups.deleteGroup(trx, caller.actor, before.id);
  });
}
