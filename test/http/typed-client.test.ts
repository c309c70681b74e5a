import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app';
import { ROOT_DIR } from '../../src/paths';

/**
 * A third party's view of the API: a client generated from the served document by openapi-typescript, used
 * through openapi-fetch without edits, by a workflow (test/client/workflow.ts) that must type-check under
 * strict TypeScript with no casts and then run green against the server.
 */
let t: TestApp;
let server: Server;
let baseUrl: string;

/** Runs a Node script of a package, like its command line would. */
function run(script: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT_DIR, script), ...args], { cwd: ROOT_DIR, env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' } });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code) => resolve({ code, output }));
  });
}

beforeAll(async () => {
  t = await createTestApp();
  await t.makeUser({ username: 'admin', role: 'superuser' });
  for (const name of ['anna', 'bert', 'cleo', 'dina']) await t.makeUser({ username: name });
  server = createServer(t.server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await t?.close();
});

describe('a client generated from the served document', () => {
  // Generating the client and compiling it with tsc take a while on a busy machine: a longer timeout.
  it('type-checks a workflow under strict TypeScript and runs it green', { timeout: 240_000 }, async () => {
    const generated = await run('node_modules/openapi-typescript/bin/cli.js', [`${baseUrl}/api/v1/openapi.json`, '--output', 'test/client/generated/gatehouse.ts']);
    expect(generated.code, generated.output).toBe(0);
    const compiled = await run('node_modules/typescript/bin/tsc', ['-p', 'test/client/tsconfig.json']);
    expect(compiled.code, compiled.output).toBe(0);

    // Loaded by path: the workflow compiles against the generated client only (its own tsconfig, above).
    const workflow: { runWorkflow(baseUrl: string, token: string, suffix: string): Promise<Record<string, unknown>> } = await import(
      pathToFileURL(path.join(ROOT_DIR, 'test/client/workflow.ts')).href
    );
    const result = await workflow.runWorkflow(baseUrl, await t.token('admin'), 'one');
    expect(result.created).toBe('typed.one');
    expect(result.memberCount).toBe(1);
    expect(result.allowed).toBe(true);
    expect(result.explanation).toContain('typed.one');
    // admin, anna, bert, cleo, dina and typed.one, two a page: to the end by cursor, each once, in order.
    expect(result.usernames).toEqual(['admin', 'anna', 'bert', 'cleo', 'dina', 'typed.one']);
    expect(result.pages).toBe(3);
    expect(result.deleted).toBe('typed.one');
  });
});
