/**
 * The decision state of one server: everything a decision or an API caller's authentication reads, held in
 * memory — workspaces, rules, caps, domains and licenses (as an AccessIndex), accounts with their group
 * memberships, roles with their application permissions, and API tokens by SHA-256 hash.
 *
 * It is loaded whole at start-up (`loadDecisionState`) and then kept current by the change-log follower
 * (src/changes/follower.ts), which hands each batch of new entries to `applyChanges`: that reloads only the
 * entities the entries name (an account, one user's memberships, one group's members, a rule, a
 * workspace…). Account, role and token objects are replaced, never mutated, so a decision in progress sees
 * one consistent version of each. The AccessIndex is rebuilt from the in-memory inputs (no query) when a
 * rule, workspace, cap or domain changed; account and membership changes leave it alone.
 */
import type { Conn } from '../db/connect';
import type { CurrentUser } from '../http/types';
import { SUPERUSER_ROLE_KEY } from '../permissions/catalog';
import * as rolesRepo from '../roles/repo';
import type { RoleEntry } from '../roles/repo';
import * as tokensRepo from '../tokens/repo';
import type { TokenEntry } from '../tokens/repo';
import * as clientsRepo from '../clients/repo';
import type { ClientEntry, ClientTokenEntry } from '../clients/repo';
import { AccountDirectory } from './directory';
import { AccessIndex, type CapInput, type DomainInput, type LicenseInput, type WorkspaceInput } from './accessIndex';
import type { Rule, Subject } from './engine';
import * as repo from './repo';
import type { AccountRow } from './repo';

/** A user as decisions see it (the engine's Subject) with what the API's caller needs. */
export interface Account extends Subject {
  firstName: string;
  lastName: string;
  email: string;
  status: string;
  licenseTypeId: number | null;
  roleId: number | null;
  source: 'local' | 'sso';
  createdAt: number;
  /** When the account was read: later sign-ins are known to src/users/presence.ts. */
  lastLoginAt: number | null;
}

/** A decision's subject with the names shown in explanations. */
export type SubjectWithName = Subject & { firstName: string; lastName: string };

/** A change-log entry as the state applies it. */
export interface AppliedChange {
  kind: string;
  entityId: number | null;
}

function toAccount(r: AccountRow, groupIds: number[]): Account {
  return {
    userId: r.id,
    username: r.username,
    firstName: r.firstName,
    lastName: r.lastName,
    email: r.email,
    status: r.status,
    active: r.status === 'active',
    lockedUntil: r.lockedUntil,
    licenseKey: r.licenseKey,
    licenseTypeId: r.licenseTypeId,
    roleId: r.roleId,
    source: r.source,
    createdAt: r.createdAt,
    lastLoginAt: r.lastLoginAt,
    groupIds,
  };
}

/** Tokens by the SHA-256 of their secret (and by id, to replace or drop one); revoked ones are not kept. */
class HashIndex<T extends { id: number; hash: string; revokedAt: number | null }> {
  private readonly byHash = new Map<string, T>();
  private readonly hashById = new Map<number, string>();

  get size(): number {
    return this.byHash.size;
  }

  get(hash: string): T | undefined {
    return this.byHash.get(hash);
  }

  put(t: T): void {
    this.drop(t.id);
    if (t.revokedAt !== null) return;
    this.byHash.set(t.hash, t);
    this.hashById.set(t.id, t.hash);
  }

  drop(id: number): void {
    const hash = this.hashById.get(id);
    if (hash !== undefined) this.byHash.delete(hash);
    this.hashById.delete(id);
  }

  dropWhere(test: (t: T) => boolean): void {
    for (const t of [...this.byHash.values()]) if (test(t)) this.drop(t.id);
  }
}

/** Reloaded entities replace the ones with these ids; an id not found any more was deleted. */
function replaceByIds<T extends { id: number }>(map: Map<number, T>, ids: number[], found: T[]): void {
  for (const id of ids) map.delete(id);
  for (const x of found) map.set(x.id, x);
}

export class DecisionState {
  index: AccessIndex;
  private readonly workspaces = new Map<number, WorkspaceInput>();
  private readonly rules = new Map<number, Rule>();
  private caps: CapInput[] = [];
  private domains: DomainInput[] = [];
  private licenses: Array<LicenseInput & { id: number }> = [];
  private readonly accounts = new Map<number, Account>();
  /** The same accounts by lower-cased username (the account itself: a batch's lookups touch one map, not two). */
  private readonly accountByName = new Map<string, Account>();
  private readonly roles = new Map<number, RoleEntry>();
  private readonly tokens = new HashIndex<TokenEntry>();
  private readonly clients = new Map<number, ClientEntry>();
  private readonly clientTokens = new HashIndex<ClientTokenEntry>();
  /**
   * Moves whenever an account is added, changed or removed here: what is remembered about the accounts
   * elsewhere (the users list's search counts, src/users/searchCounts.ts) holds while it stays the same.
   */
  accountsVersion = 0;
  /** When this state began reading its accounts (epoch ms): what they say of sign-ins is as of then. */
  loadedAt = 0;
  /** The accounts in username order, and searched by the start of a name (the users list's default view). */
  readonly directory = new AccountDirectory((id) => this.accounts.get(id));

  private constructor() {
    this.index = AccessIndex.build({ workspaces: [], rules: [], caps: [] });
  }

  // ---- reads ------------------------------------------------------------------------------------------

  /** By id, or by username (case-insensitive, blanks around ignored). */
  account(ref: string | number): Account | undefined {
    if (typeof ref === 'number') return this.accounts.get(ref);
    // A username as stored (lower case, no spaces: what callers send) is found without making a new string.
    const stored = this.accountByName.get(ref);
    if (stored) return stored;
    const name = ref.trim().toLowerCase();
    if (!name || name.length > 64) return undefined;
    return this.accountByName.get(name);
  }

  get accountCount(): number {
    return this.accounts.size;
  }

  get tokenCount(): number {
    return this.tokens.size + this.clientTokens.size;
  }

  /** An API token by the SHA-256 of what the caller sent, when it is neither revoked nor expired. */
  activeToken(hash: string, now: number): TokenEntry | undefined {
    const t = this.tokens.get(hash);
    if (!t || t.revokedAt !== null || (t.expiresAt !== null && t.expiresAt <= now)) return undefined;
    return t;
  }

  /** A machine client's token by hash with its client (whatever the client's status), when neither revoked nor expired. */
  activeClientToken(hash: string, now: number): { tokenId: number; client: ClientEntry } | undefined {
    const t = this.clientTokens.get(hash);
    if (!t || t.revokedAt !== null || (t.expiresAt !== null && t.expiresAt <= now)) return undefined;
    const client = this.clients.get(t.clientId);
    return client ? { tokenId: t.id, client } : undefined;
  }

  /**
   * The API caller behind an account, when the account may sign in (active, not locked, with a role and a
   * license) — the same rule and shape as loadCurrentUser in src/auth/service.ts, from memory.
   */
  currentUser(userId: number, now: number): CurrentUser | null {
    const a = this.accounts.get(userId);
    if (!a || !a.active || (a.lockedUntil !== null && a.lockedUntil > now) || a.roleId === null || a.licenseTypeId === null) return null;
    const role = this.roles.get(a.roleId);
    if (!role) return null;
    return {
      id: a.userId,
      username: a.username,
      firstName: a.firstName,
      lastName: a.lastName,
      email: a.email,
      roleId: role.id,
      roleName: role.name,
      licenseKey: a.licenseKey ?? '',
      isSuperuser: role.builtinKey === SUPERUSER_ROLE_KEY,
      permissions: role.permissions,
      source: a.source,
    };
  }

  /** Every role's id and name, by name (the choices of the console's filters). */
  roleChoices(): Array<{ id: number; name: string }> {
    return [...this.roles.values()]
      .map((r) => ({ id: r.id, name: r.name, lower: r.name.toLowerCase() }))
      .sort((a, b) => (a.lower < b.lower ? -1 : a.lower > b.lower ? 1 : a.id - b.id))
      .map(({ id, name }) => ({ id, name }));
  }

  /** Role and license type names by id (undefined: not known to this state yet). */
  readonly names = {
    role: (id: number): string | undefined => this.roles.get(id)?.name,
    license: (id: number): string | undefined => this.licenses.find((l) => l.id === id)?.name,
  };

  /** Every license type's id and name, in their order. */
  licenseChoices(): Array<{ id: number; name: string }> {
    return this.licenses.map(({ id, name }) => ({ id, name }));
  }

  // ---- writes (the follower's, through applyChanges) --------------------------------------------------

  // The directory is told before an account is replaced; a batch (many puts and drops) settles it once.
  private putAccount(a: Account): void {
    this.directory.batch(() => {
      this.directory.willChange(a.userId, this.accounts.get(a.userId));
      this.setAccount(a);
    });
  }

  private setAccount(a: Account): void {
    this.accountsVersion++;
    const before = this.accounts.get(a.userId);
    if (before && before.username.toLowerCase() !== a.username.toLowerCase()) this.accountByName.delete(before.username.toLowerCase());
    this.accounts.set(a.userId, a);
    this.accountByName.set(a.username.toLowerCase(), a);
  }

  private dropAccount(id: number): void {
    const before = this.accounts.get(id);
    if (!before) return;
    this.directory.batch(() => {
      this.accountsVersion++;
      this.directory.willChange(id, before);
      this.accounts.delete(id);
      if (this.accountByName.get(before.username.toLowerCase())?.userId === id) this.accountByName.delete(before.username.toLowerCase());
    });
  }

  private setGroups(userId: number, groupIds: number[]): void {
    const a = this.accounts.get(userId);
    if (a) this.putAccount({ ...a, groupIds });
  }

  private rebuildIndex(position: number): void {
    this.index = AccessIndex.build({
      workspaces: [...this.workspaces.values()],
      rules: [...this.rules.values()],
      caps: this.caps,
      domains: this.domains,
      licenses: this.licenses,
      version: position,
    });
  }

  /** Everything, read from the database now. */
  static async load(db: Conn, position: number): Promise<DecisionState> {
    const s = new DecisionState();
    s.loadedAt = Date.now();
    const [workspaces, rules, caps, domains, licenses, accounts, memberships, roles, tokens, clients, clientTokens] = await Promise.all([
      repo.loadWorkspaces(db),
      repo.loadRules(db),
      repo.loadCaps(db),
      repo.loadDomains(db),
      repo.loadLicenses(db),
      repo.loadAccounts(db),
      repo.loadMemberships(db),
      rolesRepo.loadEntries(db),
      tokensRepo.loadEntries(db),
      clientsRepo.loadEntries(db),
      clientsRepo.loadTokenEntries(db),
    ]);
    for (const w of workspaces) s.workspaces.set(w.id, w);
    for (const r of rules) s.rules.set(r.id, r);
    s.caps = caps;
    s.domains = domains;
    s.licenses = licenses;
    for (const a of accounts) s.setAccount(toAccount(a, memberships.get(a.id) ?? []));
    // The users list's order is built in the background, a slice at a time (the list reads the database
    // until it is ready); decisions need none of it.
    s.directory.build([...s.accounts.keys()]).catch((err: unknown) => {
      // Never ready, so the list keeps reading the database; said on the process's warnings, not swallowed.
      process.emitWarning(`The users list's in-memory order could not be built (the list reads the database): ${String(err)}`);
    });
    for (const r of roles) s.roles.set(r.id, r);
    for (const t of tokens) s.tokens.put(t);
    for (const c of clients) s.clients.set(c.id, c);
    for (const t of clientTokens) s.clientTokens.put(t);
    s.rebuildIndex(position);
    return s;
  }

  /**
   * Applies a batch of change-log entries by reloading what they name. Returns false when an entry asks for
   * a rebuild (the caller then loads a new state instead).
   */
  async apply(db: Conn, changes: AppliedChange[], position: number): Promise<boolean> {
    const ids = new Map<string, Set<number>>();
    for (const c of changes) {
      if (c.kind === 'rebuild') return false;
      if (!ids.has(c.kind)) ids.set(c.kind, new Set());
      if (c.entityId !== null) ids.get(c.kind)!.add(c.entityId);
    }
    const of = (kind: string) => [...(ids.get(kind) ?? [])];
    let indexChanged = false;

    if (ids.has('license')) {
      [this.caps, this.licenses] = await Promise.all([repo.loadCaps(db), repo.loadLicenses(db)]);
      indexChanged = true;
    }
    if (ids.has('domain')) {
      this.domains = await repo.loadDomains(db);
      // A domain's key is what rules refer to: reload them all (domains change rarely).
      this.replaceRules(await repo.loadRules(db));
      indexChanged = true;
    }
    const workspaceIds = of('workspace');
    if (workspaceIds.length) {
      replaceByIds(this.workspaces, workspaceIds, await repo.loadWorkspaces(db, workspaceIds));
      // A removed workspace took its rules with it (ON DELETE CASCADE).
      const gone = new Set(workspaceIds.filter((id) => !this.workspaces.has(id)));
      if (gone.size) for (const [id, r] of this.rules) if (gone.has(r.workspaceId)) this.rules.delete(id);
      indexChanged = true;
    }
    const groupIds = of('group');
    if (groupIds.length) {
      // A renamed group: its rules carry the name. A removed one: its rules and memberships went with it.
      const [rules, existing] = await Promise.all([repo.loadRules(db, { groupIds }), repo.existingGroupIds(db, groupIds)]);
      const touched = new Set(groupIds);
      for (const [id, r] of this.rules) if (touched.has(r.groupId)) this.rules.delete(id);
      for (const r of rules) this.rules.set(r.id, r);
      const removed = new Set(groupIds.filter((g) => !existing.has(g)));
      if (removed.size) {
        for (const a of this.accounts.values()) if (a.groupIds.some((g) => removed.has(g))) this.setGroups(a.userId, a.groupIds.filter((g) => !removed.has(g)));
      }
      indexChanged = true;
    }
    const ruleIds = of('rule');
    if (ruleIds.length) {
      replaceByIds(this.rules, ruleIds, await repo.loadRules(db, { ids: ruleIds }));
      indexChanged = true;
    }

    const roleIds = of('role');
    if (roleIds.length) {
      replaceByIds(this.roles, roleIds, await rolesRepo.loadEntries(db, roleIds));
    }
    // Accounts: those named, and the holders of a changed role (a removed role moved them to another).
    const userIds = new Set(of('user'));
    if (roleIds.length) {
      const roleSet = new Set(roleIds);
      for (const a of this.accounts.values()) if (a.roleId !== null && roleSet.has(a.roleId)) userIds.add(a.userId);
    }
    if (userIds.size) {
      const list = [...userIds];
      const [rows, memberships] = await Promise.all([repo.loadAccounts(db, list), repo.loadMemberships(db, list)]);
      this.directory.batch(() => {
        for (const id of list) this.dropAccount(id);
        for (const r of rows) this.putAccount(toAccount(r, memberships.get(r.id) ?? []));
      });
    }
    const membershipIds = of('membership').filter((id) => !userIds.has(id));
    if (membershipIds.length) {
      const memberships = await repo.loadMemberships(db, membershipIds);
      for (const [userId, groups] of memberships) this.setGroups(userId, groups);
    }
    for (const groupId of of('group_members')) {
      const members = new Set(await repo.memberIdsOf(db, groupId));
      for (const a of this.accounts.values()) {
        const has = a.groupIds.includes(groupId);
        if (has && !members.has(a.userId)) this.setGroups(a.userId, a.groupIds.filter((g) => g !== groupId));
        else if (!has && members.has(a.userId)) this.setGroups(a.userId, [...a.groupIds, groupId]);
      }
    }
    const tokenIds = of('token');
    if (tokenIds.length) {
      const found = await tokensRepo.loadEntries(db, tokenIds);
      for (const id of tokenIds) this.tokens.drop(id);
      for (const t of found) this.tokens.put(t);
    }
    const clientIds = of('client');
    if (clientIds.length) {
      replaceByIds(this.clients, clientIds, await clientsRepo.loadEntries(db, clientIds));
      // A removed client took its tokens with it.
      for (const id of clientIds) if (!this.clients.has(id)) this.clientTokens.dropWhere((t) => t.clientId === id);
    }
    const clientTokenIds = of('client_token');
    if (clientTokenIds.length) {
      const found = await clientsRepo.loadTokenEntries(db, clientTokenIds);
      for (const id of clientTokenIds) this.clientTokens.drop(id);
      for (const t of found) this.clientTokens.put(t);
    }
    if (indexChanged) this.rebuildIndex(position);
    return true;
  }

  private replaceRules(rules: Rule[]): void {
    this.rules.clear();
    for (const r of rules) this.rules.set(r.id, r);
  }
}

export type { RoleEntry, TokenEntry, ClientEntry };
