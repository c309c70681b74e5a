/**
 * Helpers for tests that walk every API operation: the documented operations, and concrete objects to put in
 * their paths — made fresh (through the services) by each test that needs them.
 */
import request from 'supertest';
import type { OpenApiDocument } from '../../src/api/openapi';
import type { TestApp } from './app';
import { unique } from './factories';
import { servedDocument } from './openapi';
import { SYSTEM_ACTOR } from '../../src/audit/service';
import { sendTestEvent } from '../../src/webhooks/service';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface DocumentedOperation {
  /** "POST /api/v1/users/{username}/deactivate" */
  key: string;
  path: string;
  method: HttpMethod;
  // The OpenAPI Operation Object, as JSON.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  op: Record<string, any>;
}

export function documentedOperations(doc: OpenApiDocument = servedDocument()): DocumentedOperation[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, path, method: method as HttpMethod, op: op as Record<string, unknown> })),
  );
}

/** The example request body of an operation (undefined when it takes none). */
export const exampleOf = (o: DocumentedOperation): Record<string, unknown> | undefined => o.op.requestBody?.content['application/json'].example;

/** Objects for every kind of path parameter, made fresh for one test. */
export interface PathObjects {
  username: string;
  group: string;
  role: number;
  workspace: number;
  permission: number;
  asset: number;
  license: string;
  /** The key of a domain added for the test. */
  domain: string;
  webhook: number;
  delivery: number;
  /** A machine client with one token. */
  client: number;
  clientToken: number;
}

export async function makePathObjects(t: TestApp): Promise<PathObjects> {
  const username = unique('sweeper');
  await t.make.makeUser({ username });
  const group = unique('Sweep Group');
  await t.make.makeGroup(group, [username]);
  const role = await t.make.makeRole(unique('Sweep Role'));
  const ws = unique('Sweep');
  const workspace = await t.make.makeWorkspace(`/Root/${ws}`);
  const permission = await t.make.grant(group, { domain: 'Files', workspace: `/Root/${ws}`, operations: 'R' });
  const asset = await t.make.makeAsset({ kind: 'log', name: unique('Sweep log'), owner: username, workspace: `/Root/${ws}` });
  const domain = (await t.make.makeDomain({ key: unique('sweep').toLowerCase().replace(/[^a-z0-9_.-]/g, '-'), name: unique('Sweep Domain') })).key;
  const { endpoint } = await t.make.makeWebhook('http://127.0.0.1:9/sweep', ['user.created'], { enabled: false });
  await sendTestEvent(t.db, SYSTEM_ACTOR, endpoint.id);
  const delivery = Number((await t.db('webhook_deliveries').where({ endpoint_id: endpoint.id }).first('id')).id);
  const client = await t.make.makeClient({ owner: username, scopes: ['read'] });
  await t.make.clientToken(client.id);
  const clientToken = (await t.db('client_tokens').where({ client_id: client.id }).first('id')).id as number;
  return { username, group, role: role.id, workspace: workspace.id, permission: permission.id, asset: asset.id, license: 'process_modeler', webhook: endpoint.id, delivery, client: client.id, clientToken, domain };
}

/** A documented path with its parameters filled from these objects ("{id}" by the collection it is in). */
export function concrete(path: string, o: PathObjects): string {
  const ids: Record<string, number> = { roles: o.role, workspaces: o.workspace, permissions: o.permission, assets: o.asset, webhooks: o.webhook, clients: o.client };
  const collection = path.split('/')[3];
  return path.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = name === 'id' ? ids[collection] : name === 'tokenId' ? o.clientToken : name === 'delivery' ? o.delivery : name === 'username' ? o.username : name === 'key' ? (collection === 'domains' ? o.domain : o.license) : o.group;
    return encodeURIComponent(String(value));
  });
}

/** A request with a bearer token. */
export function call(t: TestApp, token: string, method: HttpMethod, url: string) {
  return request(t.server)[method](url).set('Authorization', `Bearer ${token}`);
}
