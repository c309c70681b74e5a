/**
 * Single sign-on (OpenID Connect) settings, read from GATEHOUSE_OIDC_* environment variables.
 * Unset means SSO is off; a partial or malformed setting stops the server at start-up with a message
 * naming the variable, so a misconfiguration never surfaces as a failing sign-in later.
 */
export interface SsoConfig {
  /** Issuer identifier; its /.well-known/openid-configuration is discovered on first use. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** How the client authenticates at the token endpoint. */
  tokenAuthMethod: 'client_secret_basic' | 'client_secret_post';
  /** Where the provider sends the browser back: this server's /sso/callback, as the provider knows it. */
  redirectUrl: string;
  /** Shown on the sign-in button: "Sign in with <providerName>". */
  providerName: string;
  /** Space-separated scopes requested; always contains `openid`. */
  scopes: string;
  /** Claim holding the username; the email claim is used when this one is absent. */
  usernameClaim: string;
  firstNameClaim: string;
  lastNameClaim: string;
  emailClaim: string;
  /** May the first SSO sign-in take over an existing local account with the same (verified) email? */
  linkByEmail: boolean;
  /** Plain HTTP to the provider; only allowed for an issuer on this machine (development and tests). */
  allowInsecureRequests: boolean;
}

export const SSO_ENV = {
  issuer: 'GATEHOUSE_OIDC_ISSUER',
  clientId: 'GATEHOUSE_OIDC_CLIENT_ID',
  clientSecret: 'GATEHOUSE_OIDC_CLIENT_SECRET',
  tokenAuthMethod: 'GATEHOUSE_OIDC_TOKEN_AUTH_METHOD',
  redirectUrl: 'GATEHOUSE_OIDC_REDIRECT_URL',
  providerName: 'GATEHOUSE_OIDC_PROVIDER_NAME',
  scopes: 'GATEHOUSE_OIDC_SCOPES',
  usernameClaim: 'GATEHOUSE_OIDC_USERNAME_CLAIM',
  firstNameClaim: 'GATEHOUSE_OIDC_FIRST_NAME_CLAIM',
  lastNameClaim: 'GATEHOUSE_OIDC_LAST_NAME_CLAIM',
  emailClaim: 'GATEHOUSE_OIDC_EMAIL_CLAIM',
  linkByEmail: 'GATEHOUSE_OIDC_LINK_BY_EMAIL',
} as const;

const REQUIRED = [SSO_ENV.issuer, SSO_ENV.clientId, SSO_ENV.clientSecret] as const;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
const CLAIM_NAME = /^[A-Za-z0-9_.:/-]{1,100}$/;

export class SsoConfigError extends Error {}

function fail(message: string): never {
  throw new SsoConfigError(`Single sign-on configuration: ${message}`);
}

function text(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function claim(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const v = text(env, name) ?? fallback;
  if (!CLAIM_NAME.test(v)) fail(`${name} must be a claim name (letters, digits, _ . : / -), got "${v}".`);
  return v;
}

function flag(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const v = text(env, name);
  if (v === undefined) return fallback;
  const lower = v.toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(lower)) return true;
  if (['0', 'false', 'no', 'off'].includes(lower)) return false;
  return fail(`${name} must be true or false, got "${v}".`);
}

function url(name: string, value: string): URL {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return fail(`${name} must be an absolute URL, got "${value}".`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') fail(`${name} must be an http(s) URL, got "${value}".`);
  if (u.username || u.password) fail(`${name} must not contain credentials.`);
  return u;
}

/** The SSO settings, or undefined when no GATEHOUSE_OIDC_* variable is set. */
export function parseSsoConfig(env: NodeJS.ProcessEnv, baseUrl: string): SsoConfig | undefined {
  const anySet = Object.values(SSO_ENV).some((name) => text(env, name) !== undefined);
  if (!anySet) return undefined;
  const missing = REQUIRED.filter((name) => text(env, name) === undefined);
  if (missing.length) {
    fail(`${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not set. Set ${REQUIRED.join(', ')} to turn single sign-on on, or unset every GATEHOUSE_OIDC_* variable to turn it off.`);
  }

  const issuerText = text(env, SSO_ENV.issuer)!;
  const issuer = url(SSO_ENV.issuer, issuerText);
  if (issuer.search || issuer.hash) fail(`${SSO_ENV.issuer} must not have a query or fragment.`);
  const loopback = LOOPBACK.has(issuer.hostname);
  if (issuer.protocol === 'http:' && !loopback) {
    fail(`${SSO_ENV.issuer} must use https (plain http is accepted only for a provider on localhost), got "${issuerText}".`);
  }

  const redirectText = text(env, SSO_ENV.redirectUrl) ?? `${baseUrl.replace(/\/+$/, '')}/sso/callback`;
  const redirect = url(SSO_ENV.redirectUrl, redirectText);
  if (!redirect.pathname.endsWith('/sso/callback') || redirect.search || redirect.hash) {
    fail(`${SSO_ENV.redirectUrl} must be this server's address followed by /sso/callback, got "${redirectText}".`);
  }

  const scopes = (text(env, SSO_ENV.scopes) ?? 'openid profile email').split(/[\s,]+/).filter(Boolean);
  if (!scopes.includes('openid')) fail(`${SSO_ENV.scopes} must include "openid", got "${scopes.join(' ')}".`);
  if (scopes.some((s) => !/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(s))) fail(`${SSO_ENV.scopes} contains a scope with characters OAuth does not allow.`);

  const method = text(env, SSO_ENV.tokenAuthMethod) ?? 'client_secret_basic';
  if (method !== 'client_secret_basic' && method !== 'client_secret_post') {
    fail(`${SSO_ENV.tokenAuthMethod} must be client_secret_basic or client_secret_post, got "${method}".`);
  }

  const providerName = text(env, SSO_ENV.providerName) ?? 'single sign-on';
  if (providerName.length > 60 || /\p{Cc}/u.test(providerName)) fail(`${SSO_ENV.providerName} must be at most 60 printable characters.`);

  return {
    issuer: issuerText,
    clientId: text(env, SSO_ENV.clientId)!,
    clientSecret: text(env, SSO_ENV.clientSecret)!,
    tokenAuthMethod: method,
    redirectUrl: redirect.toString(),
    providerName,
    scopes: [...new Set(scopes)].join(' '),
    usernameClaim: claim(env, SSO_ENV.usernameClaim, 'preferred_username'),
    firstNameClaim: claim(env, SSO_ENV.firstNameClaim, 'given_name'),
    lastNameClaim: claim(env, SSO_ENV.lastNameClaim, 'family_name'),
    emailClaim: claim(env, SSO_ENV.emailClaim, 'email'),
    linkByEmail: flag(env, SSO_ENV.linkByEmail, false),
    allowInsecureRequests: issuer.protocol === 'http:' && loopback,
  };
}
