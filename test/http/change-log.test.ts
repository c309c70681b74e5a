import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app';
import { eventually } from '../support/eventually';
import { SYSTEM_ACTOR } from '../../src/audit/service';
import { headPosition } from '../../src/changes/service';
import * as changes from '../../src/changes/repo';
import { followerStatus } from '../../src/changes/follower';
import * as userService from '../../src/users/service';
import * as tokenService from '../../src/tokens/service';
import { sweep } from '../../src/auth/housekeeping';

/** The change log: what writes append, what the API answers as consistency tokens, trimming and rebuilds. */
let t: TestApp;
let token: string;

beforeAll(async () => {
  t = await createTestApp();
  await t.makeUser({ username: 'log.admin', role: 'superuser' });
  token = await t.token('log.admin');
});
afterAll(async () => t?.close());

/** The entries recorded by `write`, as "kind:id". */
async function recordedBy(write: () => Promise<unknown>): Promise<string[]> {
  const before = await headPosition(t.db);
  await write();
  return (await changes.readAfter(t.db, before, 100)).map((c) => `${c.kind}:${c.entityId ?? ''}`);
}

describe('every write that can change a decision appends to the change log in its transaction', () => {
  it('users: create, deactivate, unlock, delete; memberships; tokens', async () => {
    await t.make.makeGroup('Loggers');
    const created = await recordedBy(() => t.makeUser({ username: 'log.user', groups: ['Loggers'] }));
    const id = await t.make.userId('log.user');
    expect(created).toContain(`user:${id}`);
    // Deactivating ends the account's console sessions too: every server drops its copies of them.
    expect(await recordedBy(() => userService.setStatus(t.db, SYSTEM_ACTOR, id, 'deactivated'))).toEqual([`user:${id}`, `sessions:${id}`]);
    expect(await recordedBy(() => userService.unlock(t.db, SYSTEM_ACTOR, id))).toEqual([`user:${id}`]);
    const moved = await recordedBy(() => request(t.server).post('/api/v1/groups/Loggers/members').set('Authorization', `Bearer ${token}`).send({ remove: ['log.user'] }));
    expect(moved).toEqual([`membership:${id}`]);
    const issued = await tokenService.createToken(t.db, SYSTEM_ACTOR, id, { name: 'log token' });
    expect((await changes.readAfter(t.db, (await headPosition(t.db)) - 1, 1))[0]).toMatchObject({ kind: 'token', entityId: issued.id });
    expect(await recordedBy(() => tokenService.revokeToken(t.db, SYSTEM_ACTOR, id, issued.id))).toEqual([`token:${issued.id}`]);
    expect(await recordedBy(() => userService.deleteUser(t.db, SYSTEM_ACTOR, id, { assets: 'none' }))).toEqual([`sessions:${id}`, `user:${id}`]);
  });

  it('a refused write records nothing (its entry rolls back with it)', async () => {
    const before = await headPosition(t.db);
    const res = await request(t.server).post('/api/v1/groups/Nowhere/members').set('Authorization', `Bearer ${token}`).send({ add: ['log.admin'] });
    expect(res.status).toBe(404);
    expect(await headPosition(t.db)).toBe(before);
  });

  it('API writes answer the position they recorded; a write that recorded nothing, the head', async () => {
    const res = await request(t.server).post('/api/v1/groups').set('Authorization', `Bearer ${token}`).send({ name: 'Token group' });
    expect(res.status).toBe(201);
    const head = await headPosition(t.db);
    expect(Number(res.headers['gatehouse-consistency-token'])).toBe(head);
    const perm = await request(t.server)
      .post('/api/v1/groups/Token%20group/permissions')
      .set('Authorization', `Bearer ${token}`)
      .send({ effect: 'allow', domain: 'Files', workspace: '/Root', operations: 'R', priority: 'low' });
    expect(perm.status).toBe(201);
    const entry = (await changes.readAfter(t.db, head, 10)).find((c) => c.kind === 'rule');
    expect(entry?.entityId).toBe(perm.body.id);
    expect(Number(perm.headers['gatehouse-consistency-token'])).toBe(entry!.position);
  });
});

describe('trimming', () => {
  it('housekeeping trims old entries; a server that had read them goes on without reloading', async () => {
    const loads = followerStatus(t.db).rebuilds;
    const removed = await changes.trim(t.db, Date.now() + 1, 1);
    expect(removed).toBeGreaterThan(0);
    expect((await sweep(t.db, t.config)).changes).toBe(0);
    // The trim marker is looked at every second: after that, the server still has not reloaded (it missed nothing).
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(followerStatus(t.db).following).toBe(true);
    expect(followerStatus(t.db).rebuilds).toBe(loads);
    expect((await request(t.server).post('/api/v1/check').set('Authorization', `Bearer ${token}`).send({ user: 'log.admin', domain: 'Files', operation: 'R', workspace: '/Root' })).status).toBe(200);
  });

  it('a log trimmed past what a server has seen makes it load everything again', async () => {
    const loads = followerStatus(t.db).rebuilds;
    // As if entries this server never read had been deleted by another server's housekeeping.
    await t.db('settings').insert({ key: 'change_log_trimmed_through', value: String((await headPosition(t.db)) + 1000) }).onConflict('key').merge();
    const status = await eventually(
      async () => followerStatus(t.db),
      (s) => s.rebuilds > loads,
    );
    expect(status.rebuilds).toBeGreaterThan(loads);
    await t.db('settings').where({ key: 'change_log_trimmed_through' }).update({ value: '0' });
  });
});
