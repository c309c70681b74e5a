/**
 * The domain catalog over JSON (one definition per operation, src/api/operation.ts): anyone who manages
 * access reads it; only a Superuser adds, changes or removes a domain, and the seeded (built-in) domains
 * stay as they are.
 */
import type Koa from 'koa';
import Joi from 'joi';
import { SUPERUSER, can } from '../http/routing';
import { P } from '../permissions/catalog';
import { actorOf } from '../http/auth';
import { notFound } from '../http/errors';
import { created, operation } from '../api/operation';
import { component, count, flag, id, list, names, record, text } from '../api/schemas';
import * as repo from './repo';
import * as service from './service';
import type { Domain } from './repo';

const TAG = 'Domains';

const DomainSchema = component(
  'Domain',
  record(
    {
      id: id(),
      key: text('Stable identifier, e.g. "processes"; the `type` of an AuthZEN resource.'),
      name: text('Display name, e.g. "Processes".'),
      usesLevels: flag('Whether domain permissions in it carry an element level (0–9).'),
      builtIn: flag('Seeded with the product: read-only.'),
      permissions: count('Domain permissions granted in it.'),
    },
    'An area of the suite that domain permissions are granted on.',
  ),
);

async function domainJson(db: Koa.Context['services']['db'], d: Domain) {
  return { id: d.id, key: d.key, name: d.name, usesLevels: d.usesLevels, builtIn: service.isBuiltIn(d), permissions: await repo.countPermissions(db, d.id) };
}

const domainPath = Joi.object<{ key: string }>({ key: names('Domain', Joi.string().min(1).max(service.KEY_MAX).description("The domain's key.").example('records')) });

async function loadDomain(ctx: Koa.Context, params: { key: string }): Promise<Domain> {
  const d = await repo.findByKey(ctx.services.db, params.key);
  if (!d) throw notFound('Domain');
  return d;
}

const keyField = service.keySchema.description('Lower-case letters, digits, "_", "-", "."; starts with a letter; at most 40. No other domain may answer to it as key or name (case-insensitive).');
const nameField = service.nameSchema.description('1–100 characters. No other domain may answer to it as key or name (case-insensitive).');
const levelsField = Joi.boolean().description('Whether permissions in this domain carry an element level (like Processes).');

const listDomains = operation({
  operationId: 'listDomains',
  method: 'GET',
  path: '/domains',
  tag: TAG,
  summary: 'List domains',
  description: 'The whole domain catalog in display order: the seeded domains, then those added by a Superuser.',
  requires: can(P.accessManage),
  responses: { 200: { description: 'Every domain.', schema: component('DomainList', record({ items: list(DomainSchema) })) } },
  async handler(ctx) {
    const rows = await repo.all(ctx.services.db);
    return { items: rows.map((d) => ({ id: d.id, key: d.key, name: d.name, usesLevels: d.usesLevels, builtIn: service.isBuiltIn(d), permissions: d.permissions })) };
  },
});

const createDomain = operation({
  operationId: 'createDomain',
  method: 'POST',
  path: '/domains',
  tag: TAG,
  summary: 'Add a domain',
  description: 'Adds a domain for another application of the suite. Its license caps start as the license table gives "every domain"; decisions know it at once.',
  requires: SUPERUSER,
  body: Joi.object<{ key: string; name: string; usesLevels?: boolean }>({ key: keyField.required(), name: nameField.required(), usesLevels: levelsField }),
  example: { key: 'records', name: 'Records', usesLevels: false },
  responses: { 201: { description: 'Added.', schema: DomainSchema, headers: { Location: { description: 'The URL of the new domain.', required: true } } } },
  errors: { 422: 'The key or name is malformed, or another domain already answers to it.' },
  async handler(ctx, { body }) {
    const d = await service.createDomain(ctx.services.db, actorOf(ctx), body);
    return created(ctx, `/api/v1/domains/${encodeURIComponent(d.key)}`, await domainJson(ctx.services.db, d));
  },
});

const getDomain = operation({
  operationId: 'getDomain',
  method: 'GET',
  path: '/domains/:key',
  tag: TAG,
  summary: 'Get a domain',
  description: 'One domain with the number of permissions granted in it.',
  requires: can(P.accessManage),
  params: domainPath,
  load: loadDomain,
  responses: { 200: { description: 'The domain.', schema: DomainSchema } },
  handler: (ctx, { target }) => domainJson(ctx.services.db, target),
});

const updateDomain = operation({
  operationId: 'updateDomain',
  method: 'PATCH',
  path: '/domains/:key',
  tag: TAG,
  summary: 'Change a domain',
  description: 'Renames a domain, changes its key, or whether levels apply. Built-in domains are read-only (409).',
  requires: SUPERUSER,
  params: domainPath,
  load: loadDomain,
  body: Joi.object<{ key?: string; name?: string; usesLevels?: boolean }>({ key: keyField, name: nameField, usesLevels: levelsField })
    .or('key', 'name', 'usesLevels')
    .messages({ 'object.missing': 'Send key, name or usesLevels.' }),
  example: { name: 'Case records', usesLevels: true },
  responses: { 200: { description: 'The domain after the change.', schema: DomainSchema } },
  errors: { 409: 'A built-in domain.', 422: 'The key or name is malformed, or another domain already answers to it.' },
  async handler(ctx, { body, target }) {
    const d = await service.updateDomain(ctx.services.db, actorOf(ctx), target.id, body);
    return domainJson(ctx.services.db, d);
  },
});

const deleteDomain = operation({
  operationId: 'deleteDomain',
  method: 'DELETE',
  path: '/domains/:key',
  tag: TAG,
  summary: 'Remove a domain',
  description: 'Removes a domain no permission is granted in, with its license caps. Built-in domains and domains in use are refused (409).',
  requires: SUPERUSER,
  params: domainPath,
  load: loadDomain,
  responses: { 200: { description: 'Removed.', schema: component('DomainDeleted', record({ deleted: text('The key of the removed domain.') })) } },
  errors: { 409: 'A built-in domain, or permissions are granted in it (`details.permissions`).' },
  async handler(ctx, { target }) {
    const d = await service.removeDomain(ctx.services.db, actorOf(ctx), target.id);
    return { deleted: d.key };
  },
});

export const operations = [listDomains, createDomain, getDomain, updateDomain, deleteDomain];
