import { can } from '../../http/routing';
import { P } from '../../permissions/catalog';
import { arrayOf, int, nullable, obj, ref, str, time, type OperationMap, type Schema } from './schema';

const anyJson: Schema = { description: 'The object as it was (before) or became (after); null when not applicable.' };

export const auditSchemas: Record<string, Schema> = {
  AuditEvent: obj(
    {
      id: int(undefined, { minimum: 1 }),
      at: time(),
      actor: str('Username of who did it ("system" for operations commands).'),
      action: str('What was done, e.g. "user.create", "role.permissions".'),
      objectType: str('Kind of object, e.g. "user", "group", "role".'),
      objectId: str('Id (or key) of the object.'),
      object: str('Name of the object at the time.'),
      before: nullable(anyJson),
      after: nullable(anyJson),
      ip: str('Address of the request ("" when not from a request).'),
    },
    { description: 'One entry of the audit trail.' },
  ),
  AuditPage: obj(
    {
      items: arrayOf(ref('AuditEvent'), 'Newest first.'),
      nextCursor: nullable(str('Pass as `cursor` for the next (older) page; null on the last page.', { pattern: '^[0-9]{1,16}\\.[1-9][0-9]{0,18}$' })),
    },
    { description: 'A page of the audit trail (cursor pagination: stays fast and stable while events are added).' },
  ),
};

export const auditOperations: OperationMap = {
  'GET /audit': {
    operationId: 'listAuditEvents',
    tag: 'Audit log',
    summary: 'Read the audit trail',
    description: 'Every change made through the console, the API or the operations commands, newest first, with filters and cursor pagination.',
    requires: can(P.usersManage, P.accessManage),
    query: {
      actor: { description: 'Only events by this username.', schema: { type: 'string', maxLength: 64 } },
      action: { description: 'Only this action, e.g. `user.create`.', schema: { type: 'string', maxLength: 64 } },
      objectType: { description: 'Only events on this kind of object, e.g. `user`.', schema: { type: 'string' } },
      object: { description: 'Only events on an object with this name or id.', schema: { type: 'string', maxLength: 255 } },
      from: { description: 'Only events at or after this time: an ISO 8601 date or date-time, e.g. 2026-01-31 or 2026-01-31T12:00:00Z.', schema: { type: 'string' } },
      to: { description: 'Only events at or before this time: an ISO 8601 date or date-time.', schema: { type: 'string' } },
      limit: { description: 'Page size (default 100).', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
      cursor: { description: 'The `nextCursor` of the previous page.', schema: { type: 'string', pattern: '^[0-9]{1,16}\\.[1-9][0-9]{0,18}$' } },
    },
    responses: { 200: { description: 'A page of events.', schema: ref('AuditPage') } },
    errors: { 400: 'An unknown query parameter or a value out of range.' },
  },
};
