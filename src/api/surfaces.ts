/**
 * The API surfaces Gatehouse serves, each with its operations: src/app.ts mounts them, and the OpenAPI
 * document describes them all. A new surface (its own prefix and authentication) is added to API_SURFACES.
 */
import Joi from 'joi';
import { BEARER_TOKEN_AUTH } from './auth';
import { operation, type ApiSurface } from './operation';
import { buildOpenApiDocument, type OpenApiDocument, type SurfaceOperations } from './openapi';
import { PUBLIC } from '../http/routing';
import { operations as userOperations } from '../users/api';
import { operations as groupOperations } from '../groups/api';
import { operations as roleOperations } from '../roles/api';
import { operations as licenseOperations } from '../licenses/api';
import { operations as workspaceOperations } from '../workspaces/api';
import { operations as domainOperations } from '../domains/api';
import { AUTHZEN_SURFACE, WELL_KNOWN_SURFACE, operations as authzenOperations, wellKnownOperations } from '../authzen/api';
import { operations as permissionOperations } from '../domainPermissions/api';
import { operations as accessOperations } from '../access/api';
import { operations as assetOperations } from '../assets/api';
import { operations as auditOperations } from '../audit/api';
import { operations as signInOperations } from '../auth/api';
import { operations as webhookOperations } from '../webhooks/api';
import { operations as clientOperations } from '../clients/api';

/** /api/v1: everything the console manages, for personal API tokens. */
export const API_V1: ApiSurface = {
  prefix: '/api/v1',
  ...BEARER_TOKEN_AUTH,
};

const documents = new Map<string, { document: OpenApiDocument; json: string }>();

/** The document for a server reached at `baseUrl` (built once per address; treat as read-only). */
export function apiDocument(baseUrl: string): { document: OpenApiDocument; json: string } {
  let d = documents.get(baseUrl);
  if (!d) {
    const document = buildOpenApiDocument(baseUrl, API_SURFACES);
    d = { document, json: JSON.stringify(document) };
    documents.set(baseUrl, d);
  }
  return d;
}

const getOpenApiDocument = operation({
  operationId: 'getOpenApiDocument',
  method: 'GET',
  path: '/openapi.json',
  tag: 'Reference',
  summary: 'This OpenAPI document',
  description: 'The OpenAPI 3.1 description of the API, for client generators. Needs no token: it describes the API and holds no data.',
  requires: PUBLIC,
  responses: { 200: { description: 'The OpenAPI document.', schema: Joi.object().unknown(true).description('An OpenAPI 3.1 document.') } },
  handler(ctx) {
    ctx.set('Cache-Control', 'no-cache');
    ctx.type = 'application/json';
    return apiDocument(ctx.services.config.baseUrl).json;
  },
});

export const API_SURFACES: SurfaceOperations[] = [
  {
    surface: API_V1,
    operations: [
      ...userOperations,
      ...signInOperations,
      ...groupOperations,
      ...roleOperations,
      ...licenseOperations,
      ...workspaceOperations,
      ...domainOperations,
      ...permissionOperations,
      ...accessOperations,
      ...assetOperations,
      ...auditOperations,
      ...webhookOperations,
      ...clientOperations,
      getOpenApiDocument,
    ],
  },
  { surface: AUTHZEN_SURFACE, operations: authzenOperations },
  { surface: WELL_KNOWN_SURFACE, operations: wellKnownOperations },
];
