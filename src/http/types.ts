import type { Db } from '../db/connect';
import type { Config } from '../config';
import type { AppPermission } from '../permissions/catalog';
import type { Scope } from '../clients/scopes';

/** The signed-in user as every request sees it; computed once per request. */
export interface CurrentUser {
  id: number;
  username: string;
  firstName: string;
  lastName: string;
  email: string;
  roleId: number;
  roleName: string;
  licenseKey: string;
  isSuperuser: boolean;
  permissions: ReadonlySet<AppPermission>;
  source: 'local' | 'sso';
}

/** Who is making a change: written into every audit event. */
export interface Actor {
  id: number | null;
  username: string;
  ip: string;
  isSuperuser: boolean;
}

export interface FlashMessage {
  type: 'success' | 'error' | 'info';
  text: string;
}

export interface AppServices {
  db: Db;
  config: Config;
}

declare module 'koa' {
  interface DefaultState {
    user?: CurrentUser;
    csrfToken?: string;
    /** Set on /api requests authenticated by a token. */
    apiTokenId?: number;
    /** Set when the token is a machine client's (src/api/auth.ts); ctx.state.user is then its owner. */
    client?: ClientCaller;
    isApi?: boolean;
    /** The API surface (src/api/operation.ts) answering this request. */
    apiSurface?: unknown;
    /** The id of the database session behind the cookie. */
    sessionId?: string;
  }
  interface DefaultContext {
    services: AppServices;
  }
}

/** The machine client a request is made by (set on ctx.state.client by src/api/auth.ts). */
export interface ClientCaller {
  id: number;
  name: string;
  scopes: readonly Scope[];
  rateLimitPerMinute: number | null;
}
