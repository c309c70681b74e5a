/**
 * A workflow written against a client generated from the served OpenAPI document (openapi-typescript +
 * openapi-fetch), as a third party would write it: no casts, TypeScript strict. test/http/typed-client.test.ts
 * generates ./generated/gatehouse.ts from the running server, type-checks this file with tsc and runs it.
 */
import createClient from 'openapi-fetch';
import type { paths } from './generated/gatehouse';

export interface WorkflowResult {
  created: string;
  memberCount: number;
  allowed: boolean;
  explanation: string;
  pages: number;
  usernames: string[];
  deleted: string;
}

/** Fails with the status and error body of an answer that has no data. */
function need<T>(answer: { data?: T; error?: unknown; response: Response }, what: string): T {
  if (answer.data === undefined) throw new Error(`${what}: ${answer.response.status} ${JSON.stringify(answer.error)}`);
  return answer.data;
}

export async function runWorkflow(baseUrl: string, token: string, suffix: string): Promise<WorkflowResult> {
  const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });

  // A user, a group with that user in it, a workspace and a permission for the group.
  const user = need(
    await api.POST('/api/v1/users', {
      body: { username: `typed.${suffix}`, firstName: 'Typed', lastName: 'Client', email: `typed.${suffix}@example.com`, password: 'a-long-typed-passphrase' },
    }),
    'create user',
  );
  const groupName = `Typed ${suffix}`;
  need(await api.POST('/api/v1/groups', { body: { name: groupName, description: 'Made by the generated client' } }), 'create group');
  const members = need(await api.POST('/api/v1/groups/{name}/members', { params: { path: { name: groupName } }, body: { add: [user.username] } }), 'add member');
  const workspace = need(await api.POST('/api/v1/workspaces', { body: { name: `Typed ${suffix}` } }), 'create workspace');
  need(
    await api.POST('/api/v1/groups/{name}/permissions', {
      params: { path: { name: groupName } },
      body: { effect: 'allow', domain: 'Processes', workspace: workspace.path, operations: 'RM', transitive: true },
    }),
    'grant permission',
  );

  // The decision, with its explanation.
  const decision = need(await api.POST('/api/v1/check', { body: { user: user.username, domain: 'Processes', operation: 'M', workspace: workspace.id } }), 'check');

  // Every user, page by page with the keyset cursor, to the end.
  const usernames: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  for (;;) {
    const page = need(await api.GET('/api/v1/users', { params: { query: { sort: 'username', limit: 2, cursor } } }), 'list users');
    for (const item of page.items) usernames.push(item.username);
    pages += 1;
    if (page.nextCursor === null) break;
    cursor = page.nextCursor;
  }

  // Tear down what was made.
  const deleted = need(await api.DELETE('/api/v1/users/{username}', { params: { path: { username: user.username } } }), 'delete user');
  need(await api.DELETE('/api/v1/groups/{name}', { params: { path: { name: groupName } } }), 'delete group');
  need(await api.DELETE('/api/v1/workspaces/{id}', { params: { path: { id: workspace.id } } }), 'delete workspace');

  return { created: user.username, memberCount: members.memberCount, allowed: decision.allowed, explanation: decision.explanation, pages, usernames, deleted: deleted.deleted };
}
