/** The audit trail over JSON (one definition per operation, src/api/operation.ts). */
import Joi from 'joi';
import { can } from '../http/routing';
import { P } from '../permissions/catalog';
import { operation } from '../api/operation';
import { component, list, record, text, time } from '../api/schemas';
import * as repo from './repo';
import { eventJson } from './service';

const CURSOR = /^[0-9]{1,16}\.[1-9][0-9]{0,18}$/;
const anyJson = Joi.any().description('The object as it was (before) or became (after); null when not applicable.');

const AuditEvent = component(
  'AuditEvent',
  record(
    {
      id: Joi.number().integer().min(1),
      at: time(),
      actor: text('Username of who did it ("system" for operations commands).'),
      action: text('What was done, e.g. "user.create", "role.permissions".'),
      objectType: text('Kind of object, e.g. "user", "group", "role".'),
      objectId: text('Id (or key) of the object.'),
      object: text('Name of the object at the time.'),
      before: anyJson,
      after: anyJson,
      ip: text('Address of the request ("" when not from a request).'),
    },
    'One entry of the audit trail.',
  ),
);
const AuditPage = component(
  'AuditPage',
  record(
    {
      items: list(AuditEvent, 'Newest first.'),
      nextCursor: text('Pass as `cursor` for the next (older) page; null on the last page.').pattern(CURSOR).allow(null),
    },
    'A page of the audit trail (cursor pagination: stays fast and stable while events are added).',
  ),
);

interface AuditQuery {
  actor?: string;
  action?: string;
  objectType?: string;
  object?: string;
  from?: Date;
  to?: Date;
  limit: number;
  cursor?: string;
}

const listAuditEvents = operation({
  operationId: 'listAuditEvents',
  method: 'GET',
  path: '/audit',
  tag: 'Audit log',
  summary: 'Read the audit trail',
  description: 'Every change made through the console, the API or the operations commands, newest first, with filters and cursor pagination.',
  requires: can(P.usersManage, P.accessManage),
  query: Joi.object<AuditQuery>({
    actor: Joi.string().trim().max(64).description('Only events by this username.'),
    action: Joi.string().trim().max(64).description('Only this action, e.g. `user.create`.'),
    objectType: Joi.string().trim().max(40).description('Only events on this kind of object, e.g. `user`.'),
    object: Joi.string().trim().max(255).description('Only events on an object with this name or id.'),
    from: Joi.date().iso().description('Only events at or after this time: an ISO 8601 date or date-time, e.g. 2026-01-31 or 2026-01-31T12:00:00Z.'),
    to: Joi.date().iso().description('Only events at or before this time: an ISO 8601 date or date-time.'),
    limit: Joi.number().integer().min(1).max(1000).default(100).description('Page size (default 100).'),
    cursor: Joi.string().pattern(CURSOR).label('cursor').description('The `nextCursor` of the previous page.'),
  }),
  responses: { 200: { description: 'A page of events.', schema: AuditPage } },
  async handler(ctx, { query: q }) {
    const rows = await repo.list(
      ctx.services.db,
      { actor: q.actor, action: q.action, objectType: q.objectType, object: q.object, from: q.from?.getTime(), to: q.to?.getTime() },
      q.limit + 1,
      repo.parsePosition(q.cursor),
    );
    const page = rows.slice(0, q.limit);
    return { items: page.map(eventJson), nextCursor: rows.length > q.limit ? repo.positionToken(page[page.length - 1]) : null };
  },
});

export const operations = [listAuditEvents];
