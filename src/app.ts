import { randomBytes } from 'node:crypto';
import Koa from 'koa';
import compose from 'koa-compose';
import { bodyParser } from '@koa/bodyparser';
import type { Config } from './config';
import { createDb, type Db } from './db/connect';
import { getOrCreateSetting } from './db/settings';
import { redactedDatabaseError } from './db/errors';
import { checkCatalog, APP_PERMISSIONS } from './permissions/catalog';
import { storedPermissionKeys } from './roles/repo';
import { missingBuiltInDomains } from './domains/service';
import { bodyParseError, errorHandler } from './http/errorHandler';
import { securityHeaders } from './http/security';
import { decisionLane, withDecisionLane, type DecisionRoute, type KoaListener } from './http/decisionLane';
import { staticFiles } from './http/static';
import { sessionMiddleware } from './http/session';
import { RememberingKeygrip } from './http/cookieKeys';
import { csrfProtection } from './http/csrf';
import { multipartUpload } from './http/upload';
import { loadUserFromSession } from './http/auth';
import { enforceEnrolment } from './auth/enrolment';
import { startHousekeeping } from './auth/housekeeping';
import { routes as signInAdminRoutes } from './auth/adminRoutes';
import { configureViews } from './http/render';
import { consoleRoutes, type MountedRoute, type RouteDef } from './http/routing';
import type { AppServices } from './http/types';
import { mountSurface } from './api/operation';
import { API_SURFACES } from './api/surfaces';
import { routes as authRoutes } from './auth/routes';
import { routes as homeRoutes } from './home/routes';
import { routes as userRoutes } from './users/routes';
import { routes as auditRoutes } from './audit/routes';
import { routes as accountRoutes } from './account/routes';
import { routes as ssoRoutes } from './sso/routes';
import { routes as workspaceRoutes } from './workspaces/routes';
import { routes as groupRoutes } from './groups/routes';
import { routes as roleRoutes } from './roles/routes';
import { routes as licenseRoutes } from './licenses/routes';
import { routes as domainRoutes } from './domains/routes';
import { routes as domainPermissionRoutes } from './domainPermissions/routes';
import { routes as explorerRoutes } from './access/explorerRoutes';
import { routes as assetRoutes } from './assets/routes';
import { routes as apiDocsRoutes } from './api/routes';
import { routes as scimSettingsRoutes } from './scim/routes';
import { SCIM_PREFIX, scimServer } from './scim/server';
import { routes as clientRoutes } from './clients/routes';
import { createOps, type LogDestination, type Ops } from './ops';
import { startFollowing, stopFollowing } from './changes/follower';
import { routes as webhookRoutes } from './webhooks/routes';
import { createWorker, type WebhookWorker } from './webhooks/worker';

/** The console's routes, feature by feature. Each route states its permission in its own file. */
const CONSOLE_ROUTES: RouteDef[][] = [authRoutes, signInAdminRoutes, homeRoutes, userRoutes, auditRoutes, accountRoutes, ssoRoutes, workspaceRoutes, groupRoutes, domainPermissionRoutes, roleRoutes, licenseRoutes, domainRoutes, explorerRoutes, assetRoutes, webhookRoutes, clientRoutes, apiDocsRoutes, scimSettingsRoutes];

export interface GatehouseApp {
  app: Koa;
  services: AppServices;
  routes: MountedRoute[];
  /** Logger, metrics and the lifecycle that graceful shutdown drives (src/ops). */
  ops: Ops;
  /** Delivers webhook events; polling when `config.webhooks.worker` is on (tests start it themselves). */
  webhooks: WebhookWorker;
  close(): Promise<void>;
}

/** Koa, whose request listener answers the decision routes' common requests first (src/http/decisionLane.ts). */
class GatehouseKoa extends Koa {
  decisions?: { routes: ReadonlyMap<string, DecisionRoute>; services: AppServices; ops: Ops };

  override callback(): KoaListener {
    const koa = super.callback();
    return this.decisions ? withDecisionLane(koa, this.decisions.routes, this.decisions.services, this.decisions.ops) : koa;
  }
}

/** Checks that the database holds the catalog this code expects (migrated and seeded). */
async function checkDatabaseCatalog(db: Db): Promise<void> {
  let keys: string[];
  try {
    keys = await storedPermissionKeys(db);
  } catch {
    throw new Error('The database is not migrated. Run `npm run migrate && npm run seed` (npm start does both).');
  }
  const missing = APP_PERMISSIONS.filter((p) => !keys.includes(p.key)).map((p) => p.key);
  if (missing.length) throw new Error(`The database lacks application permissions ${missing.join(', ')}. Run \`npm run seed\`.`);
  const domains = await missingBuiltInDomains(db);
  if (domains.length) throw new Error(`The database lacks the domains ${domains.join(', ')}. Run \`npm run seed\`.`);
}

/** Builds the application. Only src/server.ts listens; tests drive `app.callback()`. */
export async function createApp(config: Config, options: { db?: Db; logDestination?: LogDestination } = {}): Promise<GatehouseApp> {
  checkCatalog();
  const db = options.db ?? createDb(config);
  await checkDatabaseCatalog(db);
  configureViews(config.cacheTemplates);

  const secret = config.sessionSecret ?? (await getOrCreateSetting(db, 'session_secret', () => randomBytes(32).toString('base64url')));
  // Its request listener (`callback()`, which `listen()` uses too) puts the decision lane in front of Koa.
  const app = new GatehouseKoa({ proxy: config.trustProxy });
  app.keys = new RememberingKeygrip([secret]);
  const services: AppServices = { db, config };
  app.context.services = services;
  app.silent = config.env === 'test';
  const ops = createOps(config, db, options.logDestination);
  app.on('error', (err: Error, ctx?: Koa.Context) => {
    // Database errors carry the SQL and the row's values (hashes, emails): only their code and a redacted message are logged.
    const database = redactedDatabaseError(err);
    (ctx?.state.log ?? ops.logger).error(database ? { database } : { err: { type: err?.name, message: err?.message, stack: err?.stack } }, 'request failed');
  });

  const registry: MountedRoute[] = [];

  // Each API surface answers every request under its prefix: token first, then the route, its body and input.
  const surfaces = API_SURFACES.map(({ surface, operations }) => mountSurface(surface, operations, registry));
  const decisionRoutes = new Map(surfaces.flatMap((s) => [...s.decisionRoutes]));

  const consoleRouter = consoleRoutes(CONSOLE_ROUTES, registry);

  const sessionMw = sessionMiddleware(app, db, config);
  const consoleStack = [
    bodyParser({ enableTypes: ['form'], formLimit: '4mb', onError: bodyParseError }),
    sessionMw,
    // Uploads (CSV import): the fields before the file are read here, so the CSRF check sees `_csrf`.
    multipartUpload(),
    csrfProtection(),
    loadUserFromSession(),
    enforceEnrolment(),
    consoleRouter,
  ];
  const consoleChain = compose(consoleStack as Koa.Middleware[]);

  app.decisions = { routes: decisionRoutes, services, ops };
  app.use(ops.requestContext);
  app.use(errorHandler());
  // The decision operations, the hot path, go no further (src/http/decisionLane.ts).
  app.use(decisionLane(decisionRoutes, config));
  app.use(securityHeaders(config, [...API_SURFACES.map((s) => s.surface.prefix), SCIM_PREFIX]));
  app.use(ops.endpoints);
  app.use(staticFiles());
  // SCIM 2.0 (RFC 7644) for directories: its own media type, errors and authentication.
  app.use(scimServer());
  for (const surface of surfaces) app.use(surface.middleware);
  app.use(consoleChain);

  // Expired sessions, stale throttle counters and old reset links are removed on a schedule, not only when
  // someone signs in.
  const housekeeping = startHousekeeping(db, config);
  // The decision state is loaded now and follows the change log until close() (src/changes/follower.ts).
  startFollowing(db);
  const webhooks = createWorker(db, config, ops.logger);
  if (config.webhooks.worker) webhooks.start();

  return {
    app,
    services,
    routes: registry,
    ops,
    webhooks,
    async close() {
      housekeeping.stop();
      stopFollowing(db);
      await webhooks.stop();
      if (!options.db) await db.destroy();
    },
  };
}
