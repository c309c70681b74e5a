import { loadConfig } from '../config';
import { createDb } from '../db/connect';
import { HttpError, ValidationError } from '../http/errors';
import { CheckRequest, decisionJson, type CheckBody } from '../access/api';
import { validateStrict } from '../http/forms';
import { describeRule } from '../access/engine';
import * as access from '../access/service';
import { parseArgs } from './args';

const USAGE = 'Usage: npm run check -- --user U --domain D --operation R|M|C|D --workspace /Root/X [--level 0-9] [--json]';

/**
 * npm run check -- --user U --domain D --operation R --workspace /Root/X [--level N] [--json]
 * Prints the decision of PRODUCT.md section 2 with its explanation (or, with --json, what POST /api/v1/check
 * answers). Exit status: 0 allowed, 3 denied, 1 on an error (unknown user, domain or workspace; bad input).
 */
async function main(): Promise<number> {
  const args = parseArgs();
  const raw: Record<string, unknown> = { user: args.user, domain: args.domain, operation: args.operation, workspace: args.workspace };
  if (args.level !== undefined) raw.level = /^-?\d+$/.test(String(args.level)) ? Number(args.level) : args.level;
  let body: CheckBody;
  try {
    body = validateStrict(CheckRequest, raw);
  } catch (e) {
    if (e instanceof ValidationError) throw new Error(`${USAGE}\n${Object.entries(e.fields).map(([k, v]) => `--${k}: ${v}`).join('\n')}`);
    throw e;
  }
  const db = createDb(loadConfig());
  try {
    const result = await access.check(db, { user: body.user, domain: body.domain, operation: body.operation, workspace: body.workspace, level: body.level ?? undefined });
    if (args.json) {
      console.log(JSON.stringify(decisionJson(result.index, result), null, 2));
    } else {
      const level = result.domain.usesLevels ? ` (element level ${result.level})` : '';
      console.log(`${result.allowed ? 'ALLOWED' : 'DENIED'}  ${result.subject.username} · ${body.operation} · ${result.domain.name} · ${result.index.workspacePath(result.workspaceId)}${level}`);
      console.log(`Reason:      ${result.reason}`);
      console.log(`Explanation: ${result.explanation}`);
      if (result.decidedBy) console.log(`Decided by:  ${describeRule(result.index, result.decidedBy)}`);
      for (const r of result.matched.slice(1)) console.log(`Also:        ${describeRule(result.index, r)}`);
    }
    return result.allowed ? 0 : 3;
  } catch (e) {
    if (e instanceof HttpError) throw new Error(e.message);
    throw e;
  } finally {
    await db.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
