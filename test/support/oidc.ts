import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider, { type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import request from 'supertest';
import * as cheerio from 'cheerio';
import type { SsoConfig } from '../../src/sso/config';

/**
 * A real OpenID provider (oidc-provider) running inside the test process: discovery, the authorization
 * endpoint with its login page, the token endpoint signing ID tokens with its own RSA key, and UserInfo.
 */
export interface TestProvider {
  /** Issuer URL (on `localhost`, a different site from the app on 127.0.0.1). */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Claims per login name; `sub` defaults to the login name. Edit between sign-ins to change a person. */
  accounts: Map<string, Record<string, unknown>>;
  /** While true, ID tokens are issued already expired (signed correctly by the provider). */
  expireIdTokens: boolean;
  /** Registers the client with this redirect URI and starts answering. */
  configure(redirectUri: string): void;
  /** Gatehouse's settings for this provider. */
  ssoConfig(redirectUri: string, extra?: Partial<SsoConfig>): SsoConfig;
  close(): Promise<void>;
}

export async function startTestProvider(): Promise<TestProvider> {
  let handler: http.RequestListener | undefined;
  const server = http.createServer((req, res) => {
    if (handler) return handler(req, res);
    res.statusCode = 503;
    res.end('provider not configured yet');
  });
  // All interfaces, so `localhost` works whichever address family the client tries first.
  await new Promise<void>((resolve) => server.listen(0, resolve));
  const issuer = `http://localhost:${(server.address() as AddressInfo).port}`;
  const clientId = 'gatehouse-test';
  const clientSecret = randomBytes(24).toString('base64url');
  const accounts = new Map<string, Record<string, unknown>>();
  const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

  const op: TestProvider = {
    issuer,
    clientId,
    clientSecret,
    accounts,
    expireIdTokens: false,
    configure(redirectUri) {
      const configuration: Configuration = {
        clients: [
          {
            client_id: clientId,
            client_secret: clientSecret,
            redirect_uris: [redirectUri],
            grant_types: ['authorization_code'],
            response_types: ['code'],
            token_endpoint_auth_method: 'client_secret_basic',
          },
        ],
        jwks: { keys: [{ ...jwk, kid: 'test-key', use: 'sig', alg: 'RS256' } as never] },
        cookies: { keys: [randomBytes(16).toString('hex')] },
        pkce: { required: () => true },
        claims: {
          openid: ['sub'],
          email: ['email', 'email_verified'],
          profile: ['name', 'given_name', 'family_name', 'preferred_username', 'nickname', 'upn'],
        },
        features: { devInteractions: { enabled: true } },
        ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
        async findAccount(_ctx: KoaContextWithOIDC, id: string) {
          const claims = accounts.get(id);
          if (!claims) return undefined;
          return { accountId: id, claims: async () => ({ sub: id, ...claims }) as { sub: string } };
        },
        // A first-party client: consent is implied, so the provider shows only its login page.
        async loadExistingGrant(ctx: KoaContextWithOIDC) {
          const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
          if (grantId) return ctx.oidc.provider.Grant.find(grantId);
          const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId });
          grant.addOIDCScope('openid profile email');
          await grant.save();
          return grant;
        },
      };
      const provider = new Provider(issuer, configuration);
      // Expired ID tokens, still properly signed: the provider's own issue() with an expiry in the past.
      const idTokenProto = provider.IdToken.prototype as unknown as { issue(opts?: Record<string, unknown>): Promise<string> };
      const issue = idTokenProto.issue;
      idTokenProto.issue = function (this: unknown, opts: Record<string, unknown> = {}) {
        if (op.expireIdTokens && opts.use === 'idtoken') return issue.call(this, { ...opts, expiresAt: Math.floor(Date.now() / 1000) - 3600 });
        return issue.call(this, opts);
      };
      handler = provider.callback() as http.RequestListener;
    },
    ssoConfig(redirectUri, extra = {}) {
      return {
        issuer,
        clientId,
        clientSecret,
        tokenAuthMethod: 'client_secret_basic',
        redirectUrl: redirectUri,
        providerName: 'Test IdP',
        scopes: 'openid profile email',
        usernameClaim: 'preferred_username',
        firstNameClaim: 'given_name',
        lastNameClaim: 'family_name',
        emailClaim: 'email',
        linkByEmail: false,
        allowInsecureRequests: true,
        ...extra,
      };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return op;
}

type Agent = ReturnType<typeof request.agent>;

/**
 * Plays the browser at the provider, as a person would: follows the authorization redirect, fills the
 * provider's login form (or its "abort" link), and returns the URL the provider redirects back to.
 */
export async function throughProvider(
  op: TestProvider,
  authorizationUrl: URL,
  login: string,
  options: { abort?: boolean } = {},
): Promise<URL> {
  const browser: Agent = request.agent(op.issuer);
  const issuerOrigin = new URL(op.issuer).origin;
  let res = await browser.get(authorizationUrl.pathname + authorizationUrl.search);
  for (let hops = 0; hops < 10; hops++) {
    if (res.status >= 300 && res.status < 400) {
      const next = new URL(res.headers.location, op.issuer);
      if (next.origin !== issuerOrigin) return next;
      res = await browser.get(next.pathname + next.search);
      continue;
    }
    if (res.status !== 200) throw new Error(`Provider answered ${res.status}: ${res.text.slice(0, 500)}`);
    const $ = cheerio.load(res.text);
    const form = $('form').first();
    const action = form.attr('action');
    if (!action) throw new Error(`No form on the provider page: ${res.text.slice(0, 500)}`);
    if (options.abort) {
      const abort = $('a[href*="/abort"]').attr('href');
      if (!abort) throw new Error('No abort link on the provider page');
      res = await browser.get(new URL(abort, op.issuer).pathname);
      continue;
    }
    const fields: Record<string, string> = {};
    form.find('input[type=hidden]').each((_, el) => {
      fields[$(el).attr('name')!] = $(el).attr('value') ?? '';
    });
    if (form.find('input[name=login]').length) Object.assign(fields, { login, password: 'any password' });
    res = await browser.post(new URL(action, op.issuer).pathname).type('form').send(fields);
  }
  throw new Error('Too many redirects at the provider');
}
