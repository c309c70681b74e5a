import { afterEach, beforeAll, beforeEach } from 'vitest';
import request from 'supertest';
import * as cheerio from 'cheerio';
import type { Config } from '../../src/config';
import { createApp, type GatehouseApp } from '../../src/app';
import type { Db } from '../../src/db/connect';
import { createTestDatabase, type TestDatabase } from './db';
import { recordApiResponses, recordLaneResponses, takeApiMismatches } from './openapi';
import { factories, PASSWORD, type Factories, type UserSpec } from './factories';

// Every /api/v1 response a test produces is checked against the OpenAPI document (test/support/openapi.ts):
// a response the document does not describe fails the test that made it.
afterEach(() => {
  const mismatches = takeApiMismatches();
  if (mismatches.length) throw new Error(`API response${mismatches.length === 1 ? '' : 's'} not matching the OpenAPI document:\n${mismatches.join('\n\n')}`);
});

export { PASSWORD };

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
  /** Test data made through the services (test/support/factories.ts). */
  make: Factories;
  /** Creates a user through the users service (role by built-in key or name); returns the id. */
  makeUser(spec: UserSpec): Promise<number>;
  /** A personal API token for this user. */
  token(username: string): Promise<string>;
  /** Remembers the database as it is now (see `eachTestStartsFromSetUp`). */
  snapshot(): Promise<void>;
  /** Brings back the database of the last snapshot under a new app; signed-in clients stay signed in. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function createTestApp(overrides: Partial<Config> = {}): Promise<TestApp> {
  const tdb = await createTestDatabase(overrides);
  // Clients keep talking to `server` while `restore()` swaps the app and database behind it.
  let handle: ReturnType<GatehouseApp['app']['callback']>;
  const server = ((req, res) => handle(req, res)) as TestApp['server'];

  async function anonymous(): Promise<Agent> {
    const agent = request.agent(server) as Agent;
    const res = await agent.get('/login');
    agent.csrf = csrfFrom(res.text);
    return agent;
  }

  const api = {
    dialect: tdb.dialect,
    server,
    anonymous,
    async signIn(username: string, password = PASSWORD) {
      const agent = await anonymous();
      const res = await agent.post('/login').type('form').send({ _csrf: agent.csrf, username, password });
      if (res.status !== 303) throw new Error(`Sign-in as ${username} failed with ${res.status}`);
      const home = await agent.get('/account');
      agent.csrf = csrfFrom(home.text);
      return agent;
    },
    makeUser: async (spec: UserSpec) => (await api.make.makeUser(spec)).id,
    token: (username: string) => api.make.token(username),
    snapshot: () => tdb.snapshot(),
    async restore() {
      const began = performance.now();
      await api.gate.close();
      await tdb.restore();
      const restored = performance.now();
      await start();
      if (process.env.GATEHOUSE_TIME_RESTORE) console.log(`[restore] ${tdb.dialect}: database ${(restored - began).toFixed(0)} ms, app ${(performance.now() - restored).toFixed(0)} ms`);
    },
    async close() {
      await api.gate.close();
      await tdb.cleanup();
    },
  } as TestApp;

  /** A new app (fresh in-memory state) over the current database. */
  async function start() {
    const gate = await createApp(tdb.config, { db: tdb.db });
    gate.app.middleware.unshift(recordApiResponses());
    handle = recordLaneResponses(gate.app.callback());
    Object.assign(api, { gate, db: tdb.db, config: tdb.config, make: factories(tdb.db, tdb.config) });
  }
  await start();
  return api;
}

/**
 * Every test of the file starts from the state the file's `beforeAll` set up (users, roles, signed-in clients,
 * whatever it made through the factories): the database is snapshotted once after that set-up and brought
 * back, under a fresh app, before each test. So no test sees what another test did, in any order. Call it
 * after the file's `beforeAll`; what a `describe` needs beyond that it makes in a `beforeEach`.
 */
export function eachTestStartsFromSetUp(app: () => TestApp): void {
  let fresh = false;
  beforeAll(async () => {
    await app().snapshot();
    fresh = true;
  });
  beforeEach(async () => {
    if (!fresh) await app().restore();
    fresh = false;
  });
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
