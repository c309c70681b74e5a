import type { Knex } from 'knex';
import { hashPassword } from '../src/auth/passwords';
import { bumpCounter } from '../src/db/settings';
import { userRow } from '../src/users/repo';
import { ASSET_KINDS } from '../src/assets/repo';

const FIRST = ['Anna', 'Ben', 'Chloé', 'David', 'Elif', 'Farah', 'Georg', 'Hana', 'Ivan', 'Julia', 'Kenji', 'Lena', 'Mateo', 'Nora', 'Oskar', 'Priya', 'Quentin', 'Rosa', 'Sven', 'Tomás', 'Uma', 'Viktor', 'Wen', 'Ximena', 'Yusuf', 'Zoë', 'Amelia', 'Bruno', 'Carla', 'Dmitri', 'Emma', 'Felix', 'Greta', 'Hugo', 'Ines', 'Jonas', 'Katarzyna', 'Luca', 'Maja', 'Niko', 'Olga', 'Pablo', 'Rania', 'Samir', 'Tara', 'Ulrich', 'Vera', 'William', 'Yara', 'Zeynep'];
const LAST = ['Andersson', 'Berg', 'Costa', 'Dubois', 'Eriksen', 'Fischer', 'García', 'Hansen', 'Ito', 'Jensen', 'Kowalski', 'Larsen', 'Müller', 'Nakamura', 'Olsen', 'Petrov', 'Quinn', 'Rossi', 'Schmidt', 'Tanaka', 'Usman', 'Virtanen', 'Wagner', 'Xu', 'Yilmaz', 'Zimmermann', 'Bauer', 'Novak', 'Silva', 'Moreau', 'Weber', 'Kim', 'Singh', 'Haddad', 'Lopez', 'Nielsen', 'Ortiz', 'Park', 'Romero', 'Sato'];
const DEPARTMENTS = ['Sales', 'Finance', 'Operations', 'Engineering', 'Quality', 'Purchasing', 'Logistics', 'HR', 'Legal', 'Marketing', 'Support', 'Research', 'Compliance', 'IT', 'Production'];
const REGIONS = ['EMEA', 'Americas', 'APAC', 'Nordics', 'DACH', 'Iberia', 'Benelux', 'UK', 'France', 'Italy'];
const ASSET_WORDS = ['Order to cash', 'Procure to pay', 'Incident handling', 'Onboarding', 'Month-end close', 'Claims', 'Returns', 'Invoice approval', 'Hiring', 'Audit trail', 'Change request', 'Quality check'];

/** Deterministic pseudo-random numbers so two runs make the same organisation. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Multi-row inserts; SQLite's knex dialect compiles them to a compound SELECT, limited to 500 terms. */
async function insertChunked(db: Knex, table: string, rows: Record<string, unknown>[]): Promise<void> {
  const chunk = db.client.config.client === 'mysql2' ? 1000 : 400;
  for (let i = 0; i < rows.length; i += chunk) await db(table).insert(rows.slice(i, i + chunk));
}

export interface DemoOptions {
  users: number;
  scryptN: number;
  password: string;
  log?: (line: string) => void;
}

/**
 * Fills the database with a realistic organisation: users with names and emails, groups, memberships,
 * a workspace tree, assets owned by users and shared with groups, and some group permissions.
 * Additive: it numbers what it creates after what is there, so it can run twice.
 */
export async function seedDemo(db: Knex, options: DemoOptions): Promise<Record<string, number>> {
  const log = options.log ?? (() => {});
  const random = rng(42);
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)];
  const now = Date.now();
  const hash = await hashPassword(options.password, options.scryptN);

  const roleRows: Array<{ id: number; builtin_key: string | null; license_type_id: number }> = await db('roles').select('id', 'builtin_key', 'license_type_id');
  const role = (key: string) => roleRows.find((r) => r.builtin_key === key)!;
  // Mostly analysts, as in a real tenancy; a few administrators.
  const roleMix = [
    ...Array(70).fill(role('analyst')),
    ...Array(15).fill(role('viewer')),
    ...Array(13).fill(role('model_designer')),
    ...Array(2).fill(role('administrator')),
  ];

  const start = Number((await db('users').max({ m: 'id' }).first())?.m ?? 0);
  const tag = `${start + 1}`;
  log(`Creating ${options.users.toLocaleString('en-US')} users…`);
  const userRows = [];
  for (let i = 0; i < options.users; i++) {
    const n = start + i + 1;
    const first = pick(FIRST);
    const last = pick(LAST);
    const username = `${first}.${last}.${n}`.toLowerCase().normalize('NFD').replace(/[\u0300-\u036f]/g, '');
    const r = pick(roleMix);
    const created = now - Math.floor(random() * 3 * 365 * 86400_000);
    const row = userRow(
      { username, firstName: first, lastName: last, email: `${username}@example.com`, passwordHash: hash, roleId: r.id, licenseTypeId: r.license_type_id, status: random() < 0.02 ? 'deactivated' : 'active' },
      created,
    );
    userRows.push({ ...row, last_login_at: random() < 0.8 ? created + Math.floor(random() * (now - created)) : null });
  }
  await insertChunked(db, 'users', userRows);
  const userIds: number[] = (await db('users').where('id', '>', start).orderBy('id').select('id')).map((r: { id: number }) => r.id);

  const groupCount = Math.min(5000, Math.max(10, Math.round(options.users / 20)));
  log(`Creating ${groupCount.toLocaleString('en-US')} groups…`);
  const groupRows = [];
  for (let i = 0; i < groupCount; i++) {
    const name = `${DEPARTMENTS[i % DEPARTMENTS.length]} ${REGIONS[Math.floor(i / DEPARTMENTS.length) % REGIONS.length]} ${tag}-${i + 1}`;
    groupRows.push({ name, name_lower: name.toLowerCase(), description: `Demo team ${i + 1}`, version: 1, created_at: now, updated_at: now });
  }
  await insertChunked(db, 'groups', groupRows);
  const groupIds: number[] = (await db('groups').whereIn('name_lower', groupRows.map((g) => g.name_lower)).orderBy('id').select('id')).map((r: { id: number }) => r.id);

  log('Adding memberships (about five groups per user)…');
  let memberships = 0;
  let batch: Record<string, unknown>[] = [];
  for (const uid of userIds) {
    const k = 3 + Math.floor(random() * 5);
    const chosen = new Set<number>();
    while (chosen.size < Math.min(k, groupIds.length)) chosen.add(groupIds[Math.floor(random() * groupIds.length)]);
    for (const gid of chosen) batch.push({ group_id: gid, user_id: uid, added_at: now });
    if (batch.length >= 2000) {
      await insertChunked(db, 'group_members', batch);
      memberships += batch.length;
      batch = [];
    }
  }
  await insertChunked(db, 'group_members', batch);
  memberships += batch.length;

  const relations = [];
  for (let i = 0; i + 1 < Math.min(groupIds.length, 200); i += 2) relations.push({ requester_group_id: groupIds[i], approver_group_id: groupIds[i + 1], created_at: now });
  await insertChunked(db, 'group_relations', relations);

  const workspaceCount = Math.min(10_000, Math.max(20, Math.round(options.users / 10)));
  log(`Creating ${workspaceCount.toLocaleString('en-US')} workspaces…`);
  const root = await db('workspaces').whereNull('parent_id').first('id');
  // Breadth-first, level by level, so parents exist before their children; up to depth 12.
  let level: number[] = [root.id];
  const allWorkspaces: number[] = [];
  let made = 0;
  let depth = 0;
  while (made < workspaceCount && depth < 12) {
    const rows = [];
    // A realistic shape: departments, then regions, then projects three to a parent, six levels deep at 10,000.
    const fanout = depth === 0 ? DEPARTMENTS.length : depth === 1 ? 6 : 3;
    for (const parent of level) {
      for (let j = 0; j < fanout && made + rows.length < workspaceCount; j++) {
        const base = depth === 0 ? `${DEPARTMENTS[j]} ${tag}` : depth === 1 ? REGIONS[j] : `Project ${j + 1}`;
        const name = base;
        rows.push({ name, name_lower: name.toLowerCase(), parent_id: parent, version: 1, created_at: now, updated_at: now });
      }
    }
    if (!rows.length) break;
    await insertChunked(db, 'workspaces', rows);
    const parents = [...new Set(rows.map((r) => r.parent_id))];
    level = (await db('workspaces').whereIn('parent_id', parents).select('id')).map((r: { id: number }) => r.id);
    allWorkspaces.push(...level);
    made += rows.length;
    depth++;
  }

  const assetCount = Math.round(options.users / 2);
  log(`Creating ${assetCount.toLocaleString('en-US')} assets and their shares…`);
  const assetRows = [];
  for (let i = 0; i < assetCount; i++) {
    assetRows.push({
      kind: pick(ASSET_KINDS),
      name: `${pick(ASSET_WORDS)} ${tag}-${i + 1}`,
      workspace_id: pick(allWorkspaces),
      owner_id: pick(userIds),
      created_at: now,
      updated_at: now,
    });
  }
  await insertChunked(db, 'assets', assetRows);
  const assetIds: number[] = (await db('assets').where('name', 'like', `% ${tag}-%`).select('id')).map((r: { id: number }) => r.id);
  const shares = [];
  for (const aid of assetIds) {
    if (random() < 0.5) shares.push({ asset_id: aid, group_id: pick(groupIds), access: pick(['viewer', 'editor', 'owner']) });
  }
  await insertChunked(db, 'asset_shares', shares);

  log('Granting group permissions…');
  const domains: Array<{ id: number; key: string }> = await db('domains').select('id', 'key');
  const permRows = [];
  for (const gid of groupIds) {
    for (let k = 0; k < 2; k++) {
      const d = pick(domains);
      const deny = random() < 0.15;
      permRows.push({
        group_id: gid,
        effect: deny ? 'deny' : 'allow',
        domain_id: d.id,
        workspace_id: random() < 0.2 ? root.id : pick(allWorkspaces),
        transitive: random() < 0.7,
        can_read: true,
        can_modify: random() < 0.5,
        can_create: random() < 0.3,
        can_delete: random() < 0.1,
        level: d.key === 'processes' ? Math.floor(random() * 5) : 0,
        priority: random() < 0.2 ? 'high' : 'low',
        created_at: now,
        updated_at: now,
      });
    }
  }
  await insertChunked(db, 'domain_permissions', permRows);
  await bumpCounter(db, 'access_version');

  return {
    users: userIds.length,
    groups: groupIds.length,
    memberships,
    relations: relations.length,
    workspaces: made,
    assets: assetIds.length,
    shares: shares.length,
    permissions: permRows.length,
  };
}
