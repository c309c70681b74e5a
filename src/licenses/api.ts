/** License types over JSON: seats and caps (one definition per operation, src/api/operation.ts). */
import type Koa from 'koa';
import Joi from 'joi';
import { can, SUPERUSER } from '../http/routing';
import { P } from '../permissions/catalog';
import { actorOf } from '../http/auth';
import { notFound } from '../http/errors';
import { DOMAINS, OPERATIONS, type Operation } from '../access/catalog';
import type { Conn } from '../db/connect';
import { operation } from '../api/operation';
import { component, count, names, offsetPage, page, paging, record, text, version } from '../api/schemas';
import * as repo from './repo';
import type { LicenseType } from './repo';
import * as service from './service';
import { overview } from './routes';

const manage = can(P.usersManage);
const TAG = 'Licenses';

const licenseRef = record({ key: text(), name: text() });
const LicenseSchema = component(
  'License',
  record(
    {
      key: text('Stable key, e.g. `process_modeler`.'),
      name: text(),
      description: text(),
      seatLimit: count('Seats that may be assigned; null for unlimited.').allow(null),
      seatsAssigned: count('Users holding a seat (deactivated users keep theirs).'),
      seatsRemaining: count('Seats left; null when unlimited.').allow(null),
      version: version(),
    },
    'A license type: seats, and caps on the operations its users may get.',
  ),
);
/** Built-in domains by name; the domains a Superuser added (src/domains) under their keys too. */
const perDomain = (ops: Joi.StringSchema, description: string) =>
  Joi.object(Object.fromEntries(DOMAINS.map((d) => [d.key, ops])))
    .pattern(Joi.string().max(40), ops)
    .description(`${description} Domains added by a Superuser appear under their keys too.`);
const capsKeys = {
  license: licenseRef,
  caps: perDomain(
    Joi.string().pattern(/^R?M?C?D?$/).max(4).description('Operations allowed: letters of R (read), M (modify), C (create), D (delete) in that order, e.g. "RM"; "" for none.'),
    'Domain key → the operations the license type allows on it (its cap).',
  ),
};
const LicenseCaps = component('LicenseCaps', record(capsKeys));
const LicenseCapsChange = component('LicenseCapsChange', record({ ...capsKeys, changed: count('Domains whose cap changed.') }));

function licenseJson(l: LicenseType, used: number) {
  return {
    key: l.key,
    name: l.name,
    description: l.description,
    seatLimit: l.seatLimit,
    seatsAssigned: used,
    seatsRemaining: l.seatLimit === null ? null : Math.max(0, l.seatLimit - used),
    version: l.version,
  };
}

async function capsJson(db: Conn, l: LicenseType) {
  const { domains, caps } = await overview(db);
  const row = caps.get(l.id);
  return { license: { key: l.key, name: l.name }, caps: Object.fromEntries(domains.map((d) => [d.key, row?.get(d.id) ?? ''])) };
}

const licensePath = Joi.object<{ key: string }>({
  key: names('License type', Joi.string().pattern(/^[a-z_]{1,40}$/).description('The license key, e.g. `process_modeler`.').example('process_modeler')),
});

async function loadLicense(ctx: Koa.Context, params: { key: string }): Promise<LicenseType> {
  const l = await repo.findByKey(ctx.services.db, params.key);
  if (!l) throw notFound('License type');
  return l;
}

const listLicenses = operation({
  operationId: 'listLicenses',
  method: 'GET',
  path: '/licenses',
  tag: TAG,
  summary: 'List license types',
  description: 'Every license type with seats assigned and remaining; offset pagination like every list (the list is short).',
  requires: manage,
  query: Joi.object<{ limit: number; offset: number }>(paging(100)),
  responses: { 200: { description: 'A page of license types.', schema: page('LicensePage', LicenseSchema) } },
  async handler(ctx, { query }) {
    const { licenses } = await overview(ctx.services.db);
    const rows = licenses.slice(query.offset, query.offset + query.limit);
    return offsetPage(rows.map((l) => licenseJson(l, l.used)), licenses.length, query);
  },
});

const getLicense = operation({
  operationId: 'getLicense',
  method: 'GET',
  path: '/licenses/:key',
  tag: TAG,
  summary: 'Get a license type',
  description: 'One license type with its seats.',
  requires: manage,
  params: licensePath,
  load: loadLicense,
  responses: { 200: { description: 'The license type.', schema: LicenseSchema } },
  handler: async (ctx, { target }) => licenseJson(target, await repo.seatsAssigned(ctx.services.db, target.id)),
});

const setLicenseSeats = operation({
  operationId: 'setLicenseSeats',
  method: 'PATCH',
  path: '/licenses/:key',
  tag: TAG,
  summary: 'Set the seat limit',
  description: 'Only a Superuser may change seats. The limit cannot go below the seats already assigned.',
  requires: SUPERUSER,
  params: licensePath,
  load: loadLicense,
  body: Joi.object<{ seatLimit: number | null; version?: number }>({
    seatLimit: service.seatLimitSchema.extract('seatLimit').required().description('Seats that may be assigned; null for unlimited.'),
    version: version('The version you read.'),
  }),
  example: { seatLimit: 250, version: 1 },
  responses: { 200: { description: 'The license type after the change.', schema: LicenseSchema } },
  errors: {
    403: 'The caller is not a Superuser.',
    409: 'The license type was changed meanwhile (stale `version`).',
    422: 'The limit is below the seats already assigned, or out of range.',
  },
  async handler(ctx, { body, target }) {
    const saved = await service.setSeatLimit(ctx.services.db, actorOf(ctx), target.id, body);
    return licenseJson(saved, await repo.seatsAssigned(ctx.services.db, saved.id));
  },
});

const getLicenseCaps = operation({
  operationId: 'getLicenseCaps',
  method: 'GET',
  path: '/licenses/:key/caps',
  tag: TAG,
  summary: 'Caps of a license type',
  description: 'Per domain, the operations a user of this license type can ever be allowed: a domain permission cannot allow more.',
  requires: manage,
  params: licensePath,
  load: loadLicense,
  responses: { 200: { description: 'The caps of every domain.', schema: LicenseCaps } },
  handler: (ctx, { target }) => capsJson(ctx.services.db, target),
});

const setLicenseCaps = operation({
  operationId: 'setLicenseCaps',
  method: 'PUT',
  path: '/licenses/:key/caps',
  tag: TAG,
  summary: 'Set caps of a license type',
  description: 'Sets the caps of the domains sent; domains left out keep theirs. Only a Superuser may change caps. Decisions follow at once.',
  requires: SUPERUSER,
  params: licensePath,
  load: loadLicense,
  body: Joi.object<{ caps: Record<string, string> }>({
    caps: perDomain(
      Joi.string()
        .allow('')
        .max(4)
        .pattern(/^[RMCD]*$/)
        .description('Letters of R, M, C and D, e.g. "RM"; "" for none.')
        .messages({ 'string.pattern.base': '{#label} must be letters of R, M, C and D (e.g. "RM"), or "" for none.' }),
      'Domain key → operations.',
    )
      .required()
      .label('caps'),
  }),
  example: { caps: { processes: 'RMC', maintenance: '' } },
  responses: { 200: { description: 'The caps after the change, with the number of domains changed.', schema: LicenseCapsChange } },
  errors: { 403: 'The caller is not a Superuser.', 422: 'Letters other than R, M, C, D, or a domain key that names no domain.' },
  async handler(ctx, { body, target }) {
    const caps: Record<string, Operation[]> = {};
    for (const [k, v] of Object.entries(body.caps)) caps[k] = OPERATIONS.filter((o) => v.includes(o));
    const changed = await service.replaceCaps(ctx.services.db, actorOf(ctx), target.id, caps);
    return { ...(await capsJson(ctx.services.db, target)), changed };
  },
});

export const operations = [listLicenses, getLicense, setLicenseSeats, getLicenseCaps, setLicenseCaps];
