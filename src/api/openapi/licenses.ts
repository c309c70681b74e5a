import { can, SUPERUSER } from '../../http/routing';
import { P } from '../../permissions/catalog';
import { DOMAINS } from '../../access/catalog';
import { paging } from './common';
import { input, int, nullable, obj, offsetPage, ref, str, version, type OperationMap, type Schema } from './schema';

const manage = can(P.usersManage);

const ops = str('Operations allowed: letters of R (read), M (modify), C (create), D (delete) in that order, e.g. "RM"; "" for none.', {
  maxLength: 4,
  pattern: '^R?M?C?D?$',
});
const opsInput = str('Letters of R, M, C and D, e.g. "RM"; "" for none.', { maxLength: 4, pattern: '^[RMCD]*$' });
const licenseRef = obj({ key: str(), name: str() });
const domainKeys = DOMAINS.map((d) => d.key);

const capsOut: Schema = {
  type: 'object',
  description: 'Domain key → the operations the license type allows on it (its cap).',
  propertyNames: { enum: domainKeys },
  additionalProperties: ops,
};

export const licenseSchemas: Record<string, Schema> = {
  License: obj(
    {
      key: str('Stable key, e.g. `process_modeler`.'),
      name: str(),
      description: str(),
      seatLimit: nullable(int('Seats that may be assigned; null for unlimited.', { minimum: 0 })),
      seatsAssigned: int('Users holding a seat (deactivated users keep theirs).', { minimum: 0 }),
      seatsRemaining: nullable(int('Seats left; null when unlimited.', { minimum: 0 })),
      version: version(),
    },
    { description: 'A license type: seats, and caps on the operations its users may get.' },
  ),
  LicenseCaps: obj({ license: licenseRef, caps: capsOut }),
};

const licensePath = { key: { description: 'The license key, e.g. `process_modeler`.', schema: { type: 'string', pattern: '^[a-z_]{1,40}$' }, example: 'process_modeler' } };

export const licenseOperations: OperationMap = {
  'GET /licenses': {
    operationId: 'listLicenses',
    tag: 'Licenses',
    summary: 'List license types',
    description: 'Every license type with seats assigned and remaining; offset pagination like every list (the list is short).',
    requires: manage,
    query: paging(100),
    responses: { 200: { description: 'A page of license types.', schema: offsetPage(ref('License')) } },
    errors: { 400: 'An unknown query parameter or a value out of range.' },
  },
  'GET /licenses/{key}': {
    operationId: 'getLicense',
    tag: 'Licenses',
    summary: 'Get a license type',
    description: 'One license type with its seats.',
    requires: manage,
    path: licensePath,
    responses: { 200: { description: 'The license type.', schema: ref('License') } },
    errors: { 404: 'There is no such license type.' },
  },
  'PATCH /licenses/{key}': {
    operationId: 'setLicenseSeats',
    tag: 'Licenses',
    summary: 'Set the seat limit',
    description: 'Only a Superuser may change seats. The limit cannot go below the seats already assigned.',
    requires: SUPERUSER,
    path: licensePath,
    body: {
      schema: input({ seatLimit: nullable(int('New limit; null for unlimited.', { minimum: 0, maximum: 10_000_000 })), version: version('The version you read.') }, ['seatLimit']),
      example: { seatLimit: 250, version: 1 },
    },
    responses: { 200: { description: 'The license type after the change.', schema: ref('License') } },
    errors: {
      403: 'The caller is not a Superuser.',
      404: 'There is no such license type.',
      409: 'The seat limit was changed meanwhile (stale `version`).',
      422: 'The limit is below the seats already assigned.',
    },
  },
  'GET /licenses/{key}/caps': {
    operationId: 'getLicenseCaps',
    tag: 'Licenses',
    summary: 'Caps of a license type',
    description: 'Per domain, the operations a user of this license type can ever be allowed: a domain permission cannot allow more.',
    requires: manage,
    path: licensePath,
    responses: { 200: { description: 'The caps of every domain.', schema: ref('LicenseCaps') } },
    errors: { 404: 'There is no such license type.' },
  },
  'PUT /licenses/{key}/caps': {
    operationId: 'replaceLicenseCaps',
    tag: 'Licenses',
    summary: 'Change caps',
    description: 'Sets the caps of the domains sent; domains left out keep theirs. Only a Superuser may change caps. Decisions follow at once.',
    requires: SUPERUSER,
    path: licensePath,
    body: {
      schema: input(
        {
          caps: {
            type: 'object',
            description: 'Domain key → operations.',
            properties: Object.fromEntries(domainKeys.map((k) => [k, opsInput])),
            additionalProperties: false,
          },
        },
        ['caps'],
      ),
      example: { caps: { processes: 'RMC', maintenance: '' } },
    },
    responses: {
      200: {
        description: 'The caps after the change, with the number of domains changed.',
        schema: obj({ license: licenseRef, caps: capsOut, changed: int('Domains whose cap changed.', { minimum: 0 }) }),
      },
    },
    errors: { 400: 'An unknown domain key or field, or letters other than R, M, C, D.', 403: 'The caller is not a Superuser.', 404: 'There is no such license type.' },
  },
};
