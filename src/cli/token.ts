import Joi from 'joi';
import { loadConfig } from '../config';
import { createDb } from '../db/connect';
import { validate } from '../http/forms';
import { ValidationError } from '../http/errors';
import { P } from '../permissions/catalog';
import { loadCurrentUser } from '../auth/service';
import { SYSTEM_ACTOR } from '../audit/service';
import * as users from '../users/repo';
import * as tokens from '../tokens/service';
import { parseArgs } from './args';

const USAGE = 'Usage: npm run token -- --username U --name N [--expires-days D]';

/**
 * npm run token -- --username U --name N [--expires-days D]
 * Creates a personal API token for U and prints it on stdout (only once: the database keeps its hash).
 * Refused when U cannot sign in or U's role lacks "Access API" (the API would refuse the token).
 */
async function main(): Promise<void> {
  const args = parseArgs();
  const input = { username: args.username, name: args.name, expiresInDays: args['expires-days'] };
  try {
    validate(
      Joi.object({
        username: Joi.string().trim().min(1).max(64).required().label('--username'),
        name: Joi.string().trim().min(1).max(100).required().label('--name'),
        expiresInDays: Joi.number().integer().min(1).max(3650).label('--expires-days'),
      }),
      input,
    );
  } catch (e) {
    if (e instanceof ValidationError) throw new Error(`${USAGE}\n${Object.values(e.fields).join('\n')}`);
    throw e;
  }
  const db = createDb(loadConfig());
  try {
    const user = await users.findByUsername(db, String(args.username).trim());
    if (!user) throw new Error(`There is no user "${String(args.username)}".`);
    const current = await loadCurrentUser(db, user.id);
    if (!current) throw new Error(`${user.username} cannot sign in (deactivated, locked, or without role or license), so a token would be refused.`);
    if (!current.permissions.has(P.apiAccess)) throw new Error(`The role of ${user.username} (${current.roleName}) does not include "Access API", so a token would be refused.`);
    let created: { token: string; name: string };
    try {
      created = await tokens.createToken(db, { ...SYSTEM_ACTOR, username: 'cli' }, user.id, { name: args.name, expiresInDays: args['expires-days'] });
    } catch (e) {
      if (e instanceof ValidationError) throw new Error(Object.values(e.fields).join('\n'));
      throw e;
    }
    console.error(`API token "${created.name}" created for ${user.username}. It is shown only this once; use it as: Authorization: Bearer <token>`);
    console.log(created.token);
  } finally {
    await db.destroy();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
