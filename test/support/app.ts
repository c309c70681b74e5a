import { afterEach } from 'vitest';
import request from 'supertest';
import * as cheerio from 'cheerio';
import type { Config } from '../../src/config';
import { createApp, type GatehouseApp } from '../../src/app';
import type { Db } from '../../src/db/connect';
import { createTestDatabase, type TestDatabase } from './db';
import { hashPassword } from '../../src/auth/passwords';
import * as users from '../../src/users/repo';
import * as roles from '../../src/roles/repo';
import * as tokenService from '../../src/tokens/service';
import { SYSTEM_ACTOR } from '../../src/audit/service';
import { recordApiResponses, takeApiMismatches } from './openapi';

// Every /api/v1 response a test produces is checked against the OpenAPI document (test/support/openapi.ts):
// a response the document does not describe fails the test that made it.
afterEach(() => {
  const mismatches = takeApiMismatches();
  if (mismatches.length) throw new Error(`API response${mismatches.length === 1 ? '' : 's'} not matching the OpenAPI document:\n${mismatches.join('\n\n')}`);
});

export const PASSWORD = 'a-long-test-password';

export type Agent = ReturnType<typeof request.agent> & { csrf: string };

export interface TestApp {
  gate: GatehouseApp;
  db: Db;
  config: Config;
  dialect: TestDatabase['dialect'];
  server: ReturnType<GatehouseApp['app']['callback']>;
  /** An anonymous browser-like client that keeps cookies. */
  anonymous(): Promise<Agent>;
  /** A client signed in as this user. */
  signIn(username: string, password?: string): Promise<Agent>;
  /** Creates a user directly in the database; role by built-in key or name. */
  makeUser(spec: Partial<MakeUser> & { username: string }): Promise<number>;
  /** A personal API token for this user. */
  token(username: string): Promise<string>;
  close(): Promise<void>;
}

export interface MakeUser {
  username: string;
  role: string;
  license?: string;
  firstName: string;
  lastName: string;
  email: string;
  password: string;
  status: 'active' | 'deactivated';
}

let cachedHash: string | undefined;

export async function createTestApp(overrides: Partial<Config> = {}): Promise<TestApp> {
  const tdb = await createTestDatabase(overrides);
  const gate = await createApp(tdb.config, { db: tdb.db });
  gate.app.middleware.unshift(recordApiResponses());
  const server = gate.app.callback();

  async function anonymous(): Promise<Agent> {
    const agent = request.agent(server) as Agent;
    const res = await agent.get('/login');
    agent.csrf = csrfFrom(res.text);
    return agent;
  }

  const api: TestApp = {
    gate,
    db: tdb.db,
    config: tdb.config,
    dialect: tdb.dialect,
    server,
    anonymous,
    async signIn(username, password = PASSWORD) {
      const agent = await anonymous();
      const res = await agent.post('/login').type('form').send({ _csrf: agent.csrf, username, password });
      if (res.status !== 303) throw new Error(`Sign-in as ${username} failed with ${res.status}`);
      const home = await agent.get('/account');
      agent.csrf = csrfFrom(home.text);
      return agent;
    },
    async makeUser(spec) {
      const role = (await roles.findByBuiltinKey(tdb.db, spec.role ?? 'analyst')) ?? (await roles.findByNameLower(tdb.db, (spec.role ?? '').toLowerCase()));
      if (!role) throw new Error(`No role ${spec.role}`);
      let licenseTypeId = role.licenseTypeId;
      if (spec.license) licenseTypeId = (await tdb.db('license_types').where({ key: spec.license }).first('id')).id;
      const passwordHash = spec.password ? await hashPassword(spec.password, tdb.config.scryptN) : (cachedHash ??= await hashPassword(PASSWORD, tdb.config.scryptN));
      return users.insert(tdb.db, {
        username: spec.username,
        firstName: spec.firstName ?? spec.username,
        lastName: spec.lastName ?? 'Tester',
        email: spec.email ?? `${spec.username}@example.com`,
        passwordHash,
        roleId: role.id,
        licenseTypeId,
        status: spec.status ?? 'active',
      });
    },
    async token(username) {
      const u = await users.findByUsername(tdb.db, username);
      if (!u) throw new Error(`No user ${username}`);
      return (await tokenService.createToken(tdb.db, SYSTEM_ACTOR, u.id, { name: `test-${Date.now()}-${Math.random()}` })).token;
    },
    async close() {
      await gate.close();
      await tdb.cleanup();
    },
  };
  return api;
}

export function csrfFrom(html: string): string {
  const $ = cheerio.load(html);
  const token = $('input[name=_csrf]').first().attr('value');
  if (token) return token;
  const headers = $('body').attr('hx-headers:inherited');
  return headers ? JSON.parse(headers)['X-CSRF-Token'] : '';
}

export function $(html: string) {
  return cheerio.load(html);
}
