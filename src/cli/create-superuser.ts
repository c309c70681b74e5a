import { loadConfig } from '../config';
import { createDb } from '../db/connect';
import { createSuperuser } from '../setup/bootstrap';
import { passwordProblem } from '../auth/passwordPolicy';
import { validate } from '../http/forms';
import { ValidationError } from '../http/errors';
import { emailSchema, usernameSchema } from '../users/service';
import Joi from 'joi';
import { parseArgs, run } from './args';

/** npm run create-superuser -- --username U --password P --email E [--first-name F --last-name L] */
run(async () => {
  const args = parseArgs();
  const input = { username: args.username, password: args.password, email: args.email };
  try {
    validate(Joi.object({ username: usernameSchema.required(), email: emailSchema.required(), password: Joi.string().required().label('Password') }), input);
  } catch (e) {
    if (e instanceof ValidationError) throw new Error(`Usage: npm run create-superuser -- --username U --password P --email E\n${Object.values(e.fields).join('\n')}`);
    throw e;
  }
  const problem = passwordProblem(String(args.password), { username: String(args.username), email: String(args.email) });
  if (problem) throw new Error(`Password: ${problem}`);
  const config = loadConfig();
  const db = createDb(config);
  try {
    const { created } = await createSuperuser(db, config, {
      username: String(args.username),
      password: String(args.password),
      email: String(args.email),
      firstName: typeof args['first-name'] === 'string' ? args['first-name'] : undefined,
      lastName: typeof args['last-name'] === 'string' ? args['last-name'] : undefined,
    });
    console.log(created ? `Superuser ${args.username} created.` : `${args.username} existed: made Superuser, reactivated, unlocked, password reset.`);
  } finally {
    await db.destroy();
  }
});
