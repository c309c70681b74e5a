/**
 * What one 1,000-item decision batch costs in process, stage by stage, free of HTTP and of the other
 * processes' load on the network stack:
 *   npm run bench:decision-batch-stages
 * On the bench:decision-http data (DATABASE_URL, default mysql://root@127.0.0.1:3306/clients_bench). The
 * floor is JSON.parse of the request body, which every batch pays (and the bare-Koa floor too). Medians of
 * 60 runs of the same 1,000 random questions, in milliseconds; writes bench/results/decision-batch-stages.json.
 */
import { decisionJson, ruleJson } from '../src/access/api';
import { decide, type DomainKey, type Operation, type Rule } from '../src/access/engine';
import * as access from '../src/access/service';
import { createDb } from '../src/db/connect';
import * as authzen from '../src/authzen/service';
import { HttpError } from '../src/http/errors';
import { writeResult } from './support';

const db = createDb({ databaseUrl: process.env.DATABASE_URL || 'mysql://root@127.0.0.1:3306/clients_bench', sqliteFile: '' });

function median(work: () => unknown): number {
  for (let i = 0; i < 20; i++) work();
  const times: number[] = [];
  for (let i = 0; i < 60; i++) {
    const t0 = performance.now();
    work();
    times.push(performance.now() - t0);
  }
  return +times.sort((a, b) => a - b)[30].toFixed(3);
}

async function main() {
  const state = await access.getState(db);
  const users: string[] = await db('users').where({ status: 'active' }).limit(100_000).pluck('username');
  const domains: Array<{ name: string; key: string; uses_levels: unknown }> = await db('domains').select('name', 'key', 'uses_levels');
  const workspaceIds: number[] = await db('workspaces').pluck('id');
  let seed = 20261201;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const pick = <T>(a: readonly T[]) => a[Math.floor(random() * a.length)];
  const checks = Array.from({ length: 1000 }, () => {
    const d = pick(domains);
    const levels = d.uses_levels === true || d.uses_levels === 1;
    return { user: pick(users), domain: d.name, operation: pick(['R', 'M', 'C', 'D'] as const) as Operation, workspace: state.index.workspacePath(pick(workspaceIds)), level: levels ? Math.floor(random() * 5) : undefined };
  });
  const checkBody = JSON.stringify({ checks });
  const evaluationsBody = JSON.stringify({
    evaluations: checks.map((c) => ({ subject: { type: 'user', id: c.user }, action: { name: { R: 'read', M: 'modify', C: 'create', D: 'delete' }[c.operation] }, resource: { type: c.domain, id: c.workspace, ...(c.level === undefined ? {} : { properties: { level: c.level } }) } })),
  });
  const now = Date.now();
  const asked = checks.map((c) => ({ ...c, subject: state.account(c.user)!, domain: state.index.findDomain(c.domain)!, workspaceId: state.index.workspaceByPath(c.workspace)! }));
  const answers = await access.checkMany(db, checks, now);
  const rules = new Map<Rule, ReturnType<typeof ruleJson>>();
  const answer = { results: answers.map((a) => (a instanceof HttpError ? a : decisionJson(a.index, a, rules))) };
  const evaluations = await authzen.evaluateMany(db, JSON.parse(evaluationsBody).evaluations, 'execute_all', now, false);

  const stages = {
    floorParseCheckBody: median(() => JSON.parse(checkBody)),
    resolveNames: median(() => {
      for (const c of JSON.parse(checkBody).checks) state.account(c.user), state.index.findDomain(c.domain), state.index.workspaceByPath(c.workspace);
    }),
    decideWithExplanation: median(() => {
      for (const q of asked) decide(state.index, q.subject, q.domain.key as DomainKey, q.operation, q.workspaceId, q.level ?? 0, now);
    }),
    decideWithoutExplanation: median(() => {
      for (const q of asked) decide(state.index, q.subject, q.domain.key as DomainKey, q.operation, q.workspaceId, q.level ?? 0, now, false);
    }),
    checkBatchAnswerJson: median(() => answers.map((a) => (a instanceof HttpError ? a : decisionJson(a.index, a, new Map())))),
    checkBatchStringify: median(() => JSON.stringify(answer)),
    evaluationsStringify: median(() => JSON.stringify({ evaluations })),
  };
  const readState = await timedAsync(() => access.getState(db));
  const wholeCheckBatch = await timedAsync(async () => access.checkMany(db, JSON.parse(checkBody).checks, now));
  const wholeEvaluations = await timedAsync(async () => authzen.evaluateMany(db, JSON.parse(evaluationsBody).evaluations, 'execute_all', now, false));
  const result = { perBatchOf1000Ms: { ...stages, readState, parseAndCheckMany: wholeCheckBatch, parseAndEvaluateManyUnexplained: wholeEvaluations }, answerBytes: { checkBatch: JSON.stringify(answer).length, evaluations: JSON.stringify({ evaluations }).length } };
  console.log(result);
  console.log(`written to ${writeResult('decision-batch-stages', { command: 'npm run bench:decision-batch-stages', ...result })}`);
}

async function timedAsync(work: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 20; i++) await work();
  const times: number[] = [];
  for (let i = 0; i < 60; i++) {
    const t0 = performance.now();
    await work();
    times.push(performance.now() - t0);
  }
  return +times.sort((a, b) => a - b)[30].toFixed(3);
}

main()
  .then(() => db.destroy())
  .then(() => process.exit(0), (err: unknown) => {
    console.error(err);
    process.exit(1);
  });
