import type { Knex } from 'knex';
import { hashPassword } from '../src/auth/passwords';
import { recordChange } from '../src/changes/service';
import { userRow } from '../src/users/repo';
import { ASSET_KINDS } from '../src/assets/repo';
import { transaction } from '../src/db/transaction';
import { redactedDatabaseError } from '../src/db/errors';

const FIRST = ['Anna', 'Ben', 'Chloé', 'David', 'Elif', 'Farah', 'Georg', 'Hana', 'Ivan', 'Julia', 'Kenji', 'Lena', 'Mateo', 'Nora', 'Oskar', 'Priya', 'Quentin', 'Rosa', 'Sven', 'Tomás', 'Uma', 'Viktor', 'Wen', 'Ximena', 'Yusuf', 'Zoë', 'Amelia', 'Bruno', 'Carla', 'Dmitri', 'Emma', 'Felix', 'Greta', 'Hugo', 'Ines', 'Jonas', 'Katarzyna', 'Luca', 'Maja', 'Niko', 'Olga', 'Pablo', 'Rania', 'Samir', 'Tara', 'Ulrich', 'Vera', 'William', 'Yara', 'Zeynep'];
const LAST = ['Andersson', 'Berg', 'Costa', 'Dubois', 'Eriksen', 'Fischer', 'García', 'Hansen', 'Ito', 'Jensen', 'Kowalski', 'Larsen', 'Müller', 'Nakamura', 'Olsen', 'Petrov', 'Quinn', 'Rossi', 'Schmidt', 'Tanaka', 'Usman', 'Virtanen', 'Wagner', 'Xu', 'Yilmaz', 'Zimmermann', 'Bauer', 'Novak', 'Silva', 'Moreau', 'Weber', 'Kim', 'Singh', 'Haddad', 'Lopez', 'Nielsen', 'Ortiz', 'Park', 'Romero', 'Sato'];
const DEPARTMENTS = ['Sales', 'Finance', 'Operations', 'Engineering', 'Quality', 'Purchasing', 'Logistics', 'HR', 'Legal', 'Marketing', 'Support', 'Research', 'Compliance', 'IT', 'Production'];
const REGIONS = ['EMEA', 'Americas', 'APAC', 'Nordics', 'DACH', 'Iberia', 'Benelux', 'UK', 'France', 'Italy'];
/** Teams of each department (same order as DEPARTMENTS): with a city, the demo's group names. All 90 differ. */
const TEAMS: string[][] = [
  ['Key Accounts', 'Inside Sales', 'Partner Sales', 'Sales Operations', 'Presales', 'Renewals'],
  ['Accounts Payable', 'Accounts Receivable', 'Controlling', 'Treasury', 'Tax', 'Payroll'],
  ['Facilities', 'Fleet', 'Business Continuity', 'Workplace Services', 'Operations Planning', 'Travel Desk'],
  ['Platform Engineering', 'Mobile Apps', 'Data Engineering', 'Site Reliability', 'QA Automation', 'Architecture'],
  ['Quality Assurance', 'Supplier Quality', 'Quality Control', 'Audit Readiness', 'Continuous Improvement', 'Calibration'],
  ['Strategic Sourcing', 'Procurement Operations', 'Contract Management', 'Vendor Onboarding', 'Indirect Purchasing', 'Category Management'],
  ['Warehousing', 'Transport Planning', 'Customs', 'Inbound Logistics', 'Outbound Logistics', 'Returns Handling'],
  ['Recruiting', 'People Partners', 'Learning & Development', 'Compensation & Benefits', 'HR Operations', 'Employee Relations'],
  ['Corporate Legal', 'Contracts Desk', 'Privacy Office', 'Litigation', 'Intellectual Property', 'Corporate Secretariat'],
  ['Brand', 'Digital Marketing', 'Events', 'Product Marketing', 'Communications', 'Marketing Analytics'],
  ['Customer Support', 'Technical Support', 'Service Desk', 'Field Service', 'Customer Success', 'Escalations'],
  ['Applied Research', 'Innovation Lab', 'Data Science', 'Process Mining CoE', 'User Research', 'Prototyping'],
  ['Risk Management', 'Internal Control', 'Anti-Fraud', 'Regulatory Affairs', 'Sanctions Screening', 'Policy Office'],
  ['IT Service Management', 'End-User Computing', 'Identity & Access', 'Network Operations', 'Enterprise Applications', 'IT Security'],
  ['Assembly', 'Maintenance', 'Production Planning', 'Shop Floor Control', 'Plant Engineering', 'Packaging'],
];
const CITIES = ['Amsterdam', 'Athens', 'Austin', 'Barcelona', 'Berlin', 'Bogotá', 'Boston', 'Brussels', 'Budapest', 'Buenos Aires', 'Cape Town', 'Chicago', 'Copenhagen', 'Dublin', 'Dubai', 'Frankfurt', 'Geneva', 'Hamburg', 'Helsinki', 'Hong Kong', 'Istanbul', 'Jakarta', 'Johannesburg', 'Kraków', 'Lagos', 'Lisbon', 'London', 'Lyon', 'Madrid', 'Manchester', 'Melbourne', 'Mexico City', 'Milan', 'Montreal', 'Mumbai', 'Munich', 'Nairobi', 'Osaka', 'Oslo', 'Paris', 'Porto', 'Prague', 'Rotterdam', 'São Paulo', 'Santiago', 'Seoul', 'Seville', 'Singapore', 'Stockholm', 'Sydney', 'Taipei', 'Tallinn', 'Tokyo', 'Toronto', 'Turin', 'Vancouver', 'Vienna', 'Vilnius', 'Warsaw', 'Zurich'];
/** Workspace names below department and region: a process, then its variants, then phases. */
const PROCESSES = ['Order to cash', 'Procure to pay', 'Customer onboarding', 'Claims handling', 'Month-end close', 'Returns', 'Invoice approval', 'Hiring', 'Supplier audit', 'Quality inspection', 'Change management', 'Incident handling'];
const VARIANTS = ['As-is 2025', 'To-be 2026', 'Pilot', 'Rollout', 'Benchmark'];
const PHASES = ['Discovery', 'Analysis', 'Redesign', 'Monitoring'];
/** A believable name, made distinct if an administrator (or an earlier run) already uses it. */
const demoVariants = (name: string, tag: string) => [name, `${name} (demo)`, `${name} (demo ${tag})`];

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

/** Of these lower-cased values, the ones a column already holds (checked in chunks). */
async function alreadyTaken(db: Knex, table: string, column: string, values: string[]): Promise<Set<string>> {
  const taken = new Set<string>();
  for (let i = 0; i < values.length; i += 1000) {
    for (const r of await db(table).whereIn(column, values.slice(i, i + 1000)).select(column)) taken.add(String((r as Record<string, unknown>)[column]));
  }
  return taken;
}

/** A phase of the seeding, in a transaction of its own: it is all there afterwards, or none of it. */
async function phase<T>(db: Knex, name: string, log: (line: string) => void, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
  log(name);
  try {
    return await transaction(db, work);
  } catch (e) {
    const why = redactedDatabaseError(e)?.message ?? (e instanceof Error ? e.message : String(e));
    throw new Error(`Demo data: "${name}" failed and was rolled back (${why}). What earlier steps added stays.`);
  }
}

/**
 * Fills the database with a realistic organisation: users with names and emails, groups, memberships,
 * a workspace tree, assets owned by users and shared with groups, and some group permissions.
 * Additive: it adds to whatever is there (administrator-made users, groups and workspaces included) and
 * can run again; names that are taken are skipped or numbered differently. Each phase is one transaction.
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

  // Numbers after every existing id make the names of this run new; a run tag keeps group and asset names apart.
  const start = Number((await db('users').max({ m: 'id' }).first())?.m ?? 0);
  const tag = `${start + 1}`;
  const userIds = await phase(db, `Creating ${options.users.toLocaleString('en-US')} users…`, log, async (trx) => {
    const candidates = [];
    for (let i = 0; i < options.users; i++) {
      const n = start + i + 1;
      const first = pick(FIRST);
      const last = pick(LAST);
      const username = `${first}.${last}.${n}`.toLowerCase().normalize('NFD').replace(/[\u0300-\u036f]/g, '');
      candidates.push({ username, first, last, r: pick(roleMix), created: now - Math.floor(random() * 3 * 365 * 86400_000), deactivated: random() < 0.02, login: random() });
    }
    const takenNames = await alreadyTaken(trx, 'users', 'username_lower', candidates.map((c) => c.username));
    const takenEmails = await alreadyTaken(trx, 'users', 'email_lower', candidates.map((c) => `${c.username}@example.com`));
    const rows = candidates
      .filter((c) => !takenNames.has(c.username) && !takenEmails.has(`${c.username}@example.com`))
      .map((c) => {
        const row = userRow(
          { username: c.username, firstName: c.first, lastName: c.last, email: `${c.username}@example.com`, passwordHash: hash, roleId: c.r.id, licenseTypeId: c.r.license_type_id, status: c.deactivated ? 'deactivated' : 'active' },
          c.created,
        );
        return { ...row, last_login_at: c.login < 0.8 ? c.created + Math.floor(c.login * (now - c.created)) : null };
      });
    await insertChunked(trx, 'users', rows);
    const ids: number[] = [];
    for (let i = 0; i < rows.length; i += 1000) {
      ids.push(...(await trx('users').whereIn('username_lower', rows.slice(i, i + 1000).map((r) => r.username_lower)).pluck('id')).map(Number));
    }
    return ids;
  });

  const groupCount = Math.min(5000, Math.max(10, Math.round(options.users / 20)));
  const groupIds = await phase(db, `Creating ${groupCount.toLocaleString('en-US')} groups…`, log, async (trx) => {
    const candidates = [];
    for (let i = 0; i < groupCount; i++) {
      // "Key Accounts Lisbon": a department's team in a city; 90 teams × 60 cities give 5,400 distinct names.
      const dept = i % DEPARTMENTS.length;
      const team = TEAMS[dept][Math.floor(i / DEPARTMENTS.length) % TEAMS[dept].length];
      const city = CITIES[Math.floor(i / (DEPARTMENTS.length * 6)) % CITIES.length];
      candidates.push({ plain: `${team} ${city}`, description: `${team} team of ${DEPARTMENTS[dept]} in ${city}` });
    }
    // Each name as it is, or with "(demo)" where it is taken, or with this run's tag too.
    const ladder = candidates.map((c) => demoVariants(c.plain, tag).map((n) => n.toLowerCase()));
    const taken = await alreadyTaken(trx, 'groups', 'name_lower', ladder.flat());
    const rows = candidates.flatMap((c, i) => {
      const k = ladder[i].findIndex((n) => !taken.has(n));
      if (k < 0) return [];
      const name = demoVariants(c.plain, tag)[k];
      return [{ name, name_lower: name.toLowerCase(), description: c.description, version: 1, created_at: now, updated_at: now }];
    });
    await insertChunked(trx, 'groups', rows);
    const ids: number[] = [];
    for (let i = 0; i < rows.length; i += 1000) ids.push(...(await trx('groups').whereIn('name_lower', rows.slice(i, i + 1000).map((g) => g.name_lower)).pluck('id')).map(Number));
    return ids.sort((a, b) => a - b);
  });

  const memberships = await phase(db, 'Adding memberships (about five groups per user)…', log, async (trx) => {
    let count = 0;
    let batch: Record<string, unknown>[] = [];
    for (const uid of userIds) {
      const k = 3 + Math.floor(random() * 5);
      const chosen = new Set<number>();
      while (chosen.size < Math.min(k, groupIds.length)) chosen.add(groupIds[Math.floor(random() * groupIds.length)]);
      for (const gid of chosen) batch.push({ group_id: gid, user_id: uid, added_at: now });
      if (batch.length >= 2000) {
        await insertChunked(trx, 'group_members', batch);
        count += batch.length;
        batch = [];
      }
    }
    await insertChunked(trx, 'group_members', batch);
    return count + batch.length;
  });

  const relations = await phase(db, 'Relating requester and approver groups…', log, async (trx) => {
    const rows = [];
    for (let i = 0; i + 1 < Math.min(groupIds.length, 200); i += 2) rows.push({ requester_group_id: groupIds[i], approver_group_id: groupIds[i + 1], created_at: now });
    await insertChunked(trx, 'group_relations', rows);
    return rows.length;
  });

  const workspaceCount = Math.min(10_000, Math.max(20, Math.round(options.users / 10)));
  const allWorkspaces = await phase(db, `Creating ${workspaceCount.toLocaleString('en-US')} workspaces…`, log, async (trx) => {
    const root = await trx('workspaces').whereNull('parent_id').first('id');
    // Breadth-first, level by level, so parents exist before their children; up to depth 12. Only the
    // workspaces made here get children: an administrator's own tree is left as it is.
    let level: number[] = [root.id];
    const made: number[] = [];
    let depth = 0;
    while (made.length < workspaceCount && depth < 12) {
      // A realistic shape: departments, then regions, then projects three to a parent, six levels deep at 10,000.
      const fanout = depth === 0 ? DEPARTMENTS.length : depth === 1 ? 6 : 3;
      const rows = [];
      for (const [p, parent] of level.entries()) {
        for (let j = 0; j < fanout && made.length + rows.length < workspaceCount; j++) {
          // Siblings take consecutive names from the level's list, starting where the parent's position puts them.
          const pick = (list: string[]) => list[(p * fanout + j) % list.length];
          const name = depth === 0 ? DEPARTMENTS[j] : depth === 1 ? REGIONS[j] : depth === 2 ? pick(PROCESSES) : depth === 3 ? pick(VARIANTS) : depth === 4 ? pick(PHASES) : `Iteration ${j + 1}`;
          rows.push({ name, name_lower: name.toLowerCase(), parent_id: parent, version: 1, created_at: now, updated_at: now });
        }
      }
      // Top-level names an administrator (or an earlier run) already uses get "(demo)", then this run's tag.
      // Deeper levels sit under workspaces made here, so their names are free.
      let insert = rows;
      if (depth === 0) {
        const taken = new Set<string>(await trx('workspaces').where({ parent_id: root.id }).whereIn('name_lower', rows.flatMap((r) => demoVariants(r.name, tag).map((n) => n.toLowerCase()))).pluck('name_lower'));
        insert = rows.flatMap((r) => {
          const name = demoVariants(r.name, tag).find((n) => !taken.has(n.toLowerCase()));
          return name ? [{ ...r, name, name_lower: name.toLowerCase() }] : [];
        });
      }
      if (!insert.length) break;
      await insertChunked(trx, 'workspaces', insert);
      const wanted = new Set(insert.map((r) => `${r.parent_id}:${r.name_lower}`));
      const next: number[] = [];
      const parents = [...new Set(insert.map((r) => r.parent_id))];
      for (let i = 0; i < parents.length; i += 1000) {
        for (const w of await trx('workspaces').whereIn('parent_id', parents.slice(i, i + 1000)).select('id', 'parent_id', 'name_lower')) {
          if (wanted.has(`${w.parent_id}:${w.name_lower}`)) next.push(Number(w.id));
        }
      }
      made.push(...next);
      level = next;
      depth++;
    }
    return made;
  });

  const assetCount = Math.round(options.users / 2);
  const { assetIds, shares } = await phase(db, `Creating ${assetCount.toLocaleString('en-US')} assets and their shares…`, log, async (trx) => {
    const rows = [];
    for (let i = 0; i < assetCount && allWorkspaces.length && userIds.length; i++) {
      rows.push({ kind: pick(ASSET_KINDS), name: `${pick(ASSET_WORDS)} ${tag}-${i + 1}`, workspace_id: pick(allWorkspaces), owner_id: pick(userIds), created_at: now, updated_at: now });
    }
    await insertChunked(trx, 'assets', rows);
    const ids: number[] = (await trx('assets').where('name', 'like', `% ${tag}-%`).select('id')).map((r: { id: number }) => r.id);
    const shareRows = [];
    for (const aid of ids) if (random() < 0.5 && groupIds.length) shareRows.push({ asset_id: aid, group_id: pick(groupIds), access: pick(['viewer', 'editor', 'owner']) });
    await insertChunked(trx, 'asset_shares', shareRows);
    return { assetIds: ids, shares: shareRows.length };
  });

  const permissions = await phase(db, 'Granting group permissions…', log, async (trx) => {
    const root = await trx('workspaces').whereNull('parent_id').first('id');
    const domains: Array<{ id: number; key: string }> = await trx('domains').select('id', 'key');
    const rows = [];
    for (const gid of groupIds) {
      for (let k = 0; k < 2; k++) {
        const d = pick(domains);
        const deny = random() < 0.15;
        rows.push({
          group_id: gid,
          effect: deny ? 'deny' : 'allow',
          domain_id: d.id,
          workspace_id: random() < 0.2 || !allWorkspaces.length ? root.id : pick(allWorkspaces),
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
    await insertChunked(trx, 'domain_permissions', rows);
    // One entry for everything the demo data added (its earlier transactions included): servers rebuild.
    await recordChange(trx, { kind: 'rebuild' });
    return rows.length;
  });

  return {
    users: userIds.length,
    groups: groupIds.length,
    memberships,
    relations,
    workspaces: allWorkspaces.length,
    assets: assetIds.length,
    shares,
    permissions,
  };
}
