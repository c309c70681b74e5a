import type Koa from 'koa';
import Joi from 'joi';
import { can, get } from '../http/routing';
import { P } from '../permissions/catalog';
import { validate } from '../http/forms';
import * as repo from './repo';
import { eventJson } from './service';

const query = Joi.object({
  actor: Joi.string().trim().max(64),
  action: Joi.string().trim().max(64),
  objectType: Joi.string().trim().max(40),
  object: Joi.string().trim().max(255),
  from: Joi.date().iso(),
  to: Joi.date().iso(),
  limit: Joi.number().integer().min(1).max(1000).default(100),
  cursor: Joi.string().pattern(/^[0-9]{1,16}\.[1-9][0-9]{0,18}$/).label('cursor'),
});

/** The audit trail, newest first; `cursor` is the `nextCursor` of the previous page (keyset: stays fast). */
async function list(ctx: Koa.Context) {
  const q = validate<{ actor?: string; action?: string; objectType?: string; object?: string; from?: Date; to?: Date; limit: number; cursor?: string }>(query, ctx.query, {
    allowUnknown: false,
    status: 400,
  });
  const rows = await repo.list(
    ctx.services.db,
    { actor: q.actor, action: q.action, objectType: q.objectType, object: q.object, from: q.from?.getTime(), to: q.to?.getTime() },
    q.limit + 1,
    repo.parsePosition(q.cursor),
  );
  const page = rows.slice(0, q.limit);
  ctx.body = {
    items: page.map(eventJson),
    nextCursor: rows.length > q.limit ? repo.positionToken(page[page.length - 1]) : null,
  };
}

export const apiRoutes = [get('/audit', can(P.usersManage, P.accessManage), list)];
