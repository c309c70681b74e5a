/** Requests to the SCIM server as a directory sends them (application/scim+json, bearer token). */
import request from 'supertest';
import type { TestApp } from './app';

export const SCIM = '/scim/v2';
export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';
export const GATEHOUSE_USER = 'urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User';

export function scimClient(t: TestApp, token: string) {
  const auth = (r: request.Test) => r.set('Authorization', `Bearer ${token}`).set('Accept', 'application/scim+json');
  const send = (r: request.Test, body: unknown) => auth(r).set('Content-Type', 'application/scim+json').send(JSON.stringify(body));
  return {
    authorization: `Bearer ${token}`,
    get: (path: string) => auth(request(t.server).get(`${SCIM}${path}`)),
    post: (path: string, body: unknown) => send(request(t.server).post(`${SCIM}${path}`), body),
    put: (path: string, body: unknown) => send(request(t.server).put(`${SCIM}${path}`), body),
    patch: (path: string, body: unknown) => send(request(t.server).patch(`${SCIM}${path}`), body),
    delete: (path: string) => auth(request(t.server).delete(`${SCIM}${path}`)),
  };
}

export type ScimClient = ReturnType<typeof scimClient>;

/** A PatchOp body. */
export const patchOp = (...Operations: unknown[]) => ({ schemas: [PATCH_OP], Operations });
