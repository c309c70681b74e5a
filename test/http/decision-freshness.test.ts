import { AsyncLocalStorage } from 'node:async_hooks';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually';
import type { TestApp } from '../support/app';
import { twoServers } from '../support/twoServers';
import { unique } from '../support/factories';
import type { GatehouseApp } from '../../src/app';
import type { Db } from '../../src/db/connect';
import { SYSTEM_ACTOR } from '../../src/audit/service';
import { headPosition } from '../../src/changes/service';
import { followerStatus } from '../../src/changes/follower';
import * as tokenService from '../../src/tokens/service';

/**
 * Two servers on one database (a SQLite file, or the MariaDB database of the run): writes through A, decisions
 * and API calls on B. With the write's consistency token B answers from state that includes it at once;
 * without, B's follower reflects it within its poll interval. And B answers decisions without a query.
 */
let a: TestApp;
let b: GatehouseApp;
let bDb: Db;
let closeServers: () => Promise<void>;
let adminToken: string;

const CHECK = { user: 'fresh.admin', domain: 'Files', operation: 'R', workspace: '/Root' };
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const onA = () => request(a.server);
const onB = () => request(b.app.callback());
const checkOnB = (user: string, consistency?: string, token = adminToken) => {
  const req = onB().post('/api/v1/check').set(bearer(token));
  if (consistency !== undefined) req.set('Gatehouse-Consistency-Token', consistency);
  return req.send({ ...CHECK, user });
};

/** A user of its own and a group of its own allowed to read Files on the root; B has seen them. */
async function scenario(): Promise<{ user: string; members: string }> {
  const user = unique('fresh.member');
  const group = unique('Freshers');
  await a.makeUser({ username: user, role: 'analyst' });
  await a.make.makeGroup(group, []);
  await a.make.grant(group, { effect: 'allow', domain: 'Files', workspace: '/Root', operations: 'R', transitive: true });
  expect((await checkOnB(user, String(await headPosition(a.db)))).body.reason).toBe('default');
  return { user, members: `/api/v1/groups/${encodeURIComponent(group)}/members` };
}

function tokenOf(res: { headers: Record<string, string> }): string {
  const token = res.headers['gatehouse-consistency-token'];
  expect(token).toMatch(/^[0-9]+$/);
  return token;
}

beforeAll(async () => {
  ({ a, b, bDb, close: closeServers } = await twoServers('fresh', async (first) => {
    await first.makeUser({ username: 'fresh.admin', role: 'superuser' });
    adminToken = await first.token('fresh.admin');
  }));
});

afterAll(async () => closeServers?.());

describe('a write through one server, a decision on the other', () => {
  it('a membership change: at once with the consistency token, applied without reloading everything', async () => {
    const { user, members } = await scenario();
    const loadsBefore = followerStatus(bDb).rebuilds;
    const added = await onA().post(members).set(bearer(adminToken)).send({ add: [user] });
    expect(added.status, JSON.stringify(added.body)).toBe(200);
    const seen = await checkOnB(user, tokenOf(added));
    expect(seen.status).toBe(200);
    expect(seen.body).toMatchObject({ allowed: true, reason: 'rule' });
    expect(followerStatus(bDb).rebuilds, 'B applied the membership, it did not load everything again').toBe(loadsBefore);
  });

  it('a membership change without the token is reflected on the other server soon after', async () => {
    const { user, members } = await scenario();
    const added = await onA().post(members).set(bearer(adminToken)).send({ add: [user] });
    expect(added.status).toBe(200);
    expect((await eventually(() => checkOnB(user), (r) => r.body.allowed === true)).body.allowed).toBe(true);
    const removed = await onA().post(members).set(bearer(adminToken)).send({ remove: [user] });
    expect(removed.status).toBe(200);
    expect((await eventually(() => checkOnB(user), (r) => r.body.reason === 'default')).body.reason).toBe('default');
  });

  it('a deactivation: the other server denies by account at once with the token', async () => {
    const { user, members } = await scenario();
    const added = await onA().post(members).set(bearer(adminToken)).send({ add: [user] });
    expect((await checkOnB(user, tokenOf(added))).body.allowed).toBe(true);
    const gone = await onA().post(`/api/v1/users/${user}/deactivate`).set(bearer(adminToken));
    expect(gone.status).toBe(200);
    const denied = await onB().post('/api/v1/check').set(bearer(adminToken)).send({ ...CHECK, user, consistencyToken: tokenOf(gone) });
    expect(denied.body).toMatchObject({ allowed: false, reason: 'account' });
  });

  it('a revoked client token is refused by the other server at once with the token, and soon without', async () => {
    const client = await a.make.makeClient({ owner: 'fresh.admin', scopes: ['decisions'] });
    const clientToken = await a.make.clientToken(client.id);
    const issued = String(await headPosition(a.db));
    expect((await checkOnB('fresh.admin', issued, clientToken)).status).toBe(200);
    const listed = await onA().get(`/api/v1/clients/${client.id}/tokens`).set(bearer(adminToken));
    const revoked = await onA().delete(`/api/v1/clients/${client.id}/tokens/${listed.body.items[0].id}`).set(bearer(adminToken));
    expect(revoked.status).toBe(200);
    const refused = await checkOnB('fresh.admin', tokenOf(revoked), clientToken);
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('invalid_token');
    expect((await eventually(() => checkOnB('fresh.admin', undefined, clientToken), (r) => r.status === 401)).status).toBe(401);
  });

  it('a revoked personal token, and a deactivated token owner, are refused by the other server', async () => {
    const caller = unique('fresh.caller');
    const callerId = await a.makeUser({ username: caller, role: 'superuser' });
    const issued = await tokenService.createToken(a.db, SYSTEM_ACTOR, callerId, { name: 'to revoke' });
    expect((await checkOnB('fresh.admin', String(await headPosition(a.db)), issued.token)).status).toBe(200);
    await tokenService.revokeToken(a.db, SYSTEM_ACTOR, callerId, issued.id);
    const refused = await checkOnB('fresh.admin', String(await headPosition(a.db)), issued.token);
    expect(refused.status).toBe(401);

    const ownerToken = await a.token(caller);
    const off = await onA().post(`/api/v1/users/${caller}/deactivate`).set(bearer(adminToken));
    const ownerRefused = await checkOnB('fresh.admin', tokenOf(off), ownerToken);
    expect(ownerRefused.status).toBe(401);
    expect(ownerRefused.body.error.code).toBe('account_disabled');
  });

  it('a token issued a moment ago elsewhere (another server, the token command) works on the other server at once, without a consistency token', async () => {
    const caller = unique('fresh.new');
    const callerId = await a.makeUser({ username: caller, role: 'superuser' });
    for (let round = 0; round < 5; round++) {
      const issued = await tokenService.createToken(a.db, SYSTEM_ACTOR, callerId, { name: `new ${round}` });
      const res = await checkOnB('fresh.admin', undefined, issued.token);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    }
    expect((await checkOnB('fresh.admin', undefined, 'gh_never-issued')).status).toBe(401);
  });
});

describe('decisions answered from memory', () => {
  it('answers single checks, batches and effective permissions on the other server without a database query', async () => {
    // Count the queries made while B handles a request (its follower's polls run outside any request).
    const inRequest = new AsyncLocalStorage<true>();
    b.app.middleware.unshift((ctx, next) => inRequest.run(true, next));
    let queries = 0;
    const count = () => {
      if (inRequest.getStore()) queries++;
    };
    // Warm: the token's last-used time is written at most once a minute.
    expect((await checkOnB('fresh.admin')).status).toBe(200);
    bDb.on('query', count);
    try {
      for (let i = 0; i < 20; i++) expect((await checkOnB('fresh.admin')).status).toBe(200);
      const batch = await onB()
        .post('/api/v1/check/batch')
        .set(bearer(adminToken))
        .send({ checks: Array.from({ length: 50 }, (_, i) => ({ ...CHECK, operation: 'RMCD'[i % 4] })) });
      expect(batch.status).toBe(200);
      expect(batch.body.results).toHaveLength(50);
      const grid = await onB().get('/api/v1/users/fresh.admin/effective-permissions').set(bearer(adminToken));
      expect(grid.status).toBe(200);
    } finally {
      bDb.off('query', count);
      b.app.middleware.shift();
    }
    expect(queries, 'database queries made while answering 71 requests (91 decisions)').toBe(0);
  });
});
