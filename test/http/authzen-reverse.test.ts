import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { createTestApp, type TestApp } from '../support/app';
import { authzen, type Endpoint } from '../support/authzen';

/**
 * Reverse queries agree exactly with individual evaluations. A generated dataset (users with every kind of
 * license and a deactivated one, groups, a workspace tree with external keys on some workspaces, allow and
 * deny rules of both priorities, transitive or not, with levels in the domains that have them) is made
 * through the services; then "who may" (search/subject), "where" (search/resource) and "which actions"
 * (search/action), read page by page through their cursors, must equal the set of evaluations that answer
 * true — over every combination, on SQLite and on MariaDB.
 */
let t: TestApp;
let token: string;

/** A small seeded generator: the same dataset on every run and both databases. */
function generator(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  return { next, pick: <T>(list: readonly T[]) => list[Math.floor(next() * list.length)], chance: (p: number) => next() < p };
}

const LICENSES = ['process_modeler', 'project_manager', 'process_participant', 'process_viewer'] as const;
const DOMAINS = ['processes', 'files', 'casefiles'];
const ACTIONS = ['read', 'modify', 'write', 'create', 'delete'];
const users: string[] = [];
const resources: string[] = []; // the resource ids evaluations name: external keys or paths

beforeAll(async () => {
  t = await createTestApp({ apiRateLimitPerMinute: 1_000_000 });
  await t.makeUser({ username: 'reverse-admin', role: 'superuser' });
  token = await t.token('reverse-admin');
  const g = generator(20261201);
  await t.make.makeDomain({ key: 'casefiles', name: 'Case files', usesLevels: true });

  const paths = ['/Root'];
  for (let i = 0; i < 12; i++) {
    const path = `${g.pick(paths)}/W${i}`;
    const ws = await t.make.makeWorkspace(path);
    paths.push(path);
    if (g.chance(0.5)) resources.push((await t.make.setExternalKey(ws.id, `case-${i}`)).externalKey!);
    else resources.push(path);
  }
  resources.push('/Root');

  for (let i = 0; i < 24; i++) {
    const username = `rev-user-${String(i).padStart(2, '0')}`;
    await t.makeUser({ username, license: LICENSES[i % LICENSES.length], status: i === 5 ? 'deactivated' : 'active' });
    users.push(username);
  }
  const groups: string[] = [];
  for (let i = 0; i < 7; i++) {
    const name = `Reverse group ${i}`;
    await t.make.makeGroup(
      name,
      users.filter(() => g.chance(0.35)),
    );
    groups.push(name);
  }
  for (let i = 0; i < 45; i++) {
    const domain = g.pick(DOMAINS);
    const levels = domain !== 'files';
    const ops = ['R', 'M', 'C', 'D'].filter(() => g.chance(0.5)).join('') || 'R';
    await t.make.grant(g.pick(groups), {
      domain,
      workspace: g.pick(paths),
      operations: ops,
      effect: g.chance(0.3) ? 'deny' : 'allow',
      priority: g.chance(0.3) ? 'high' : 'low',
      transitive: g.chance(0.6),
      level: levels ? Math.floor(g.next() * 10) : 0,
    });
  }
});
afterAll(async () => t?.close());

/** Every page of a search, following `next_token` to the end; also checks each page's size and counts. */
async function everything(endpoint: Endpoint, body: Record<string, unknown>, limit: number): Promise<string[]> {
  const out: string[] = [];
  let token_: string | undefined;
  let total: number | undefined;
  do {
    const res = await authzen(t, token, endpoint, { ...body, page: token_ ? { token: token_ } : { limit } }, { valid: false });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.results.length).toBeLessThanOrEqual(limit);
    expect(res.body.page.count).toBe(res.body.results.length);
    total ??= res.body.page.total;
    expect(res.body.page.total).toBe(total);
    // A page that is not the last is full: nothing is cut silently.
    if (res.body.page.next_token) expect(res.body.results).toHaveLength(limit);
    out.push(...res.body.results.map((r: { id?: string; name?: string }) => r.id ?? r.name));
    token_ = res.body.page.next_token || undefined;
  } while (token_);
  expect(out).toHaveLength(total!);
  expect(new Set(out).size).toBe(out.length);
  return out;
}

/** The decisions of many evaluations (batches of at most 1,000). */
async function decisions(items: Array<Record<string, unknown>>): Promise<boolean[]> {
  const out: boolean[] = [];
  for (let i = 0; i < items.length; i += 1000) {
    const res = await authzen(t, token, 'evaluations', { evaluations: items.slice(i, i + 1000) });
    expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(200);
    out.push(...res.body.evaluations.map((e: { decision: boolean }) => e.decision));
  }
  return out;
}

const subject = (id: string) => ({ type: 'user', id });
const resource = (type: string, id: string, level?: number) => ({ type, id, ...(level !== undefined ? { properties: { level } } : {}) });

describe('reverse queries agree with evaluations', () => {
  it('who may (search/subject): exactly the users an evaluation allows, for every domain, action, workspace and a level', async () => {
    let nonEmpty = 0;
    for (const domain of DOMAINS) {
      for (const action of ['read', 'write', 'delete']) {
        for (const id of resources) {
          const level = domain === 'files' ? undefined : 4;
          const found = await everything('search/subject', { subject: { type: 'user' }, action: { name: action }, resource: resource(domain, id, level) }, 3);
          const all = [...users, 'reverse-admin'];
          const allowed = await decisions(all.map((u) => ({ subject: subject(u), action: { name: action }, resource: resource(domain, id, level) })));
          expect(found.map((u) => u.toLowerCase()).sort(), `${action} ${domain} ${id}`).toEqual(all.filter((_, i) => allowed[i]).sort());
          if (found.length) nonEmpty++;
        }
      }
    }
    expect(nonEmpty, 'the dataset allows something somewhere').toBeGreaterThan(10);
  });

  it('where (search/resource): exactly the workspaces an evaluation allows, for every user, domain and action', async () => {
    let nonEmpty = 0;
    for (const user of users.filter((_, i) => i % 2 === 0)) {
      for (const domain of DOMAINS) {
        for (const action of ['read', 'modify', 'delete']) {
          const found = await everything('search/resource', { subject: subject(user), action: { name: action }, resource: { type: domain } }, 4);
          const allowed = await decisions(resources.map((id) => ({ subject: subject(user), action: { name: action }, resource: resource(domain, id) })));
          expect(found.sort(), `${user} ${action} ${domain}`).toEqual(resources.filter((_, i) => allowed[i]).sort());
          if (found.length) nonEmpty++;
        }
      }
    }
    expect(nonEmpty).toBeGreaterThan(10);
  });

  it('which actions (search/action): exactly the names an evaluation allows, modify and write together', async () => {
    for (const user of users.filter((_, i) => i % 4 === 1)) {
      for (const domain of DOMAINS) {
        for (const id of resources) {
          const found = await everything('search/action', { subject: subject(user), resource: resource(domain, id) }, 2);
          const allowed = await decisions(ACTIONS.map((name) => ({ subject: subject(user), action: { name }, resource: resource(domain, id) })));
          expect(found.sort(), `${user} ${domain} ${id}`).toEqual(ACTIONS.filter((_, i) => allowed[i]).sort());
          expect(found.includes('modify')).toBe(found.includes('write'));
        }
      }
    }
  });

  it('evaluations decide as POST /api/v1/check does', async () => {
    const g = generator(7);
    const asked = Array.from({ length: 120 }, () => ({ user: g.pick(users), domain: g.pick(DOMAINS), action: g.pick(['read', 'modify', 'create', 'delete']), id: g.pick(resources) }));
    const az = await decisions(asked.map((q) => ({ subject: subject(q.user), action: { name: q.action }, resource: resource(q.domain, q.id) })));
    const op = { read: 'R', modify: 'M', create: 'C', delete: 'D' } as const;
    const workspaces = new Map((await request(t.server).get('/api/v1/workspaces?limit=100').set('Authorization', `Bearer ${token}`)).body.items.map((w: { externalKey: string | null; path: string }) => [w.externalKey ?? w.path, w.path]));
    const res = await request(t.server)
      .post('/api/v1/check/batch')
      .set('Authorization', `Bearer ${token}`)
      .send({ checks: asked.map((q) => ({ user: q.user, domain: q.domain, operation: op[q.action as keyof typeof op], workspace: workspaces.get(q.id) ?? q.id })) });
    expect(res.status).toBe(200);
    expect(res.body.results.map((r: { allowed: boolean }) => r.allowed)).toEqual(az);
  });

  it('a batch carries each explanation only when options.explain asks, and then the single evaluation\'s', async () => {
    const g = generator(11);
    const items = Array.from({ length: 40 }, () => ({ subject: subject(g.pick(users)), action: { name: g.pick(['read', 'modify', 'create', 'delete']) }, resource: resource(g.pick(DOMAINS), g.pick(resources)) }));
    items.push({ subject: subject('nobody-at-all'), action: { name: 'read' }, resource: resource(DOMAINS[0], resources[0]) });
    const plain = await authzen(t, token, 'evaluations', { evaluations: items });
    const explained = await authzen(t, token, 'evaluations', { options: { explain: true }, evaluations: items });
    expect(plain.status).toBe(200);
    expect(explained.status).toBe(200);
    for (let i = 0; i < items.length; i++) {
      const single = await authzen(t, token, 'evaluation', items[i]);
      expect(explained.body.evaluations[i], `item ${i}`).toEqual(single.body);
      expect(plain.body.evaluations[i].decision, `item ${i}`).toBe(single.body.decision);
      // Only an item that could not be decided says why without being asked.
      if (single.body.context.error) expect(plain.body.evaluations[i].context.error).toEqual(single.body.context.error);
      else expect(plain.body.evaluations[i], `item ${i}`).toEqual({ decision: single.body.decision });
    }
  });

  it('a page token continues only its own search (400 otherwise)', async () => {
    const body = { subject: { type: 'user' }, action: { name: 'read' }, resource: resource('files', '/Root') };
    const first = await authzen(t, token, 'search/subject', { ...body, page: { limit: 1 } }, { valid: false });
    const next = first.body.page.next_token as string;
    if (!next) return expect(first.body.page.total).toBeLessThanOrEqual(1);
    const other = await authzen(t, token, 'search/subject', { ...body, action: { name: 'delete' }, page: { token: next } }, { valid: false });
    expect(other.status).toBe(400);
    expect((await authzen(t, token, 'search/subject', { ...body, page: { token: 'not-a-token' } }, { valid: false })).status).toBe(400);
  });
});
