import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { parseSsoConfig } from '../../src/sso/config';
import { profileFromClaims, usernameFromClaim } from '../../src/sso/service';

const BASE = 'https://gatehouse.example.com';
const MINIMAL = {
  GATEHOUSE_OIDC_ISSUER: 'https://login.example.com/realms/acme',
  GATEHOUSE_OIDC_CLIENT_ID: 'gatehouse',
  GATEHOUSE_OIDC_CLIENT_SECRET: 's3cret',
};

describe('single sign-on configuration from the environment', () => {
  it('is off when no GATEHOUSE_OIDC_* variable is set', () => {
    expect(parseSsoConfig({}, BASE)).toBeUndefined();
    expect(loadConfig({ NODE_ENV: 'test' }).sso).toBeUndefined();
  });

  it('fills in the documented defaults', () => {
    expect(parseSsoConfig(MINIMAL, BASE)).toEqual({
      issuer: 'https://login.example.com/realms/acme',
      clientId: 'gatehouse',
      clientSecret: 's3cret',
      tokenAuthMethod: 'client_secret_basic',
      redirectUrl: 'https://gatehouse.example.com/sso/callback',
      providerName: 'single sign-on',
      scopes: 'openid profile email',
      usernameClaim: 'preferred_username',
      firstNameClaim: 'given_name',
      lastNameClaim: 'family_name',
      emailClaim: 'email',
      linkByEmail: false,
      allowInsecureRequests: false,
    });
  });

  it('reads every variable, and loadConfig uses GATEHOUSE_BASE_URL for the default redirect', () => {
    const sso = parseSsoConfig(
      {
        ...MINIMAL,
        GATEHOUSE_OIDC_REDIRECT_URL: 'https://gh.example.com/admin/sso/callback',
        GATEHOUSE_OIDC_PROVIDER_NAME: 'Acme Okta',
        GATEHOUSE_OIDC_USERNAME_CLAIM: 'upn',
        GATEHOUSE_OIDC_FIRST_NAME_CLAIM: 'first',
        GATEHOUSE_OIDC_LAST_NAME_CLAIM: 'last',
        GATEHOUSE_OIDC_EMAIL_CLAIM: 'mail',
        GATEHOUSE_OIDC_LINK_BY_EMAIL: 'true',
        GATEHOUSE_OIDC_SCOPES: 'openid email groups',
        GATEHOUSE_OIDC_TOKEN_AUTH_METHOD: 'client_secret_post',
      },
      BASE,
    )!;
    expect(sso).toMatchObject({
      redirectUrl: 'https://gh.example.com/admin/sso/callback',
      providerName: 'Acme Okta',
      usernameClaim: 'upn',
      firstNameClaim: 'first',
      lastNameClaim: 'last',
      emailClaim: 'mail',
      linkByEmail: true,
      scopes: 'openid email groups',
      tokenAuthMethod: 'client_secret_post',
    });
    const config = loadConfig({ NODE_ENV: 'test', GATEHOUSE_BASE_URL: 'https://gh.acme.test', ...MINIMAL });
    expect(config.sso!.redirectUrl).toBe('https://gh.acme.test/sso/callback');
  });

  it('names the missing variable when the configuration is incomplete', () => {
    expect(() => parseSsoConfig({ GATEHOUSE_OIDC_ISSUER: MINIMAL.GATEHOUSE_OIDC_ISSUER, GATEHOUSE_OIDC_CLIENT_ID: 'x' }, BASE)).toThrow(
      /GATEHOUSE_OIDC_CLIENT_SECRET is not set/,
    );
    expect(() => parseSsoConfig({ GATEHOUSE_OIDC_PROVIDER_NAME: 'Okta' }, BASE)).toThrow(
      /GATEHOUSE_OIDC_ISSUER, GATEHOUSE_OIDC_CLIENT_ID, GATEHOUSE_OIDC_CLIENT_SECRET are not set/,
    );
    expect(() => loadConfig({ NODE_ENV: 'test', GATEHOUSE_OIDC_CLIENT_ID: 'x', GATEHOUSE_OIDC_CLIENT_SECRET: 'y' })).toThrow(/GATEHOUSE_OIDC_ISSUER is not set/);
  });

  it('refuses malformed values, naming the variable', () => {
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{ GATEHOUSE_OIDC_ISSUER: 'not a url' }, /GATEHOUSE_OIDC_ISSUER must be an absolute URL/],
      [{ GATEHOUSE_OIDC_ISSUER: 'http://login.example.com' }, /GATEHOUSE_OIDC_ISSUER must use https/],
      [{ GATEHOUSE_OIDC_ISSUER: 'ftp://login.example.com' }, /GATEHOUSE_OIDC_ISSUER must be an http\(s\) URL/],
      [{ GATEHOUSE_OIDC_REDIRECT_URL: 'https://gh.example.com/elsewhere' }, /GATEHOUSE_OIDC_REDIRECT_URL must be this server's address followed by \/sso\/callback/],
      [{ GATEHOUSE_OIDC_LINK_BY_EMAIL: 'maybe' }, /GATEHOUSE_OIDC_LINK_BY_EMAIL must be true or false/],
      [{ GATEHOUSE_OIDC_SCOPES: 'profile email' }, /GATEHOUSE_OIDC_SCOPES must include "openid"/],
      [{ GATEHOUSE_OIDC_USERNAME_CLAIM: 'user name<script>' }, /GATEHOUSE_OIDC_USERNAME_CLAIM must be a claim name/],
      [{ GATEHOUSE_OIDC_TOKEN_AUTH_METHOD: 'none' }, /GATEHOUSE_OIDC_TOKEN_AUTH_METHOD must be client_secret_basic or client_secret_post/],
      [{ GATEHOUSE_OIDC_PROVIDER_NAME: 'x'.repeat(61) }, /GATEHOUSE_OIDC_PROVIDER_NAME must be at most 60/],
    ];
    for (const [vars, message] of bad) expect(() => parseSsoConfig({ ...MINIMAL, ...vars }, BASE), JSON.stringify(vars)).toThrow(message);
  });

  it('allows plain http only for a provider on this machine', () => {
    const local = parseSsoConfig({ ...MINIMAL, GATEHOUSE_OIDC_ISSUER: 'http://localhost:8080/realms/dev' }, 'http://localhost:3000')!;
    expect(local.allowInsecureRequests).toBe(true);
    expect(local.redirectUrl).toBe('http://localhost:3000/sso/callback');
    expect(parseSsoConfig({ ...MINIMAL, GATEHOUSE_OIDC_ISSUER: 'http://127.0.0.1:8080' }, BASE)!.allowInsecureRequests).toBe(true);
  });
});

describe('usernames and profiles from claims', () => {
  it('turns claims into usernames that follow the console rules, or nothing', () => {
    expect(usernameFromClaim('jane.doe')).toBe('jane.doe');
    expect(usernameFromClaim('  Jane Doe  ')).toBe('Jane.Doe');
    expect(usernameFromClaim('jane@example.com')).toBe('jane@example.com');
    expect(usernameFromClaim('ACME\\jdoe')).toBe('ACMEjdoe');
    expect(usernameFromClaim('.hidden')).toBe('hidden');
    expect(usernameFromClaim('Zoë Ångström')).toBe('Zoë.Ångström');
    expect(usernameFromClaim('x'.repeat(80))).toBe('x'.repeat(64));
    expect(usernameFromClaim('!!')).toBeNull();
    expect(usernameFromClaim('a')).toBeNull();
    expect(usernameFromClaim('')).toBeNull();
    expect(usernameFromClaim(null)).toBeNull();
  });

  it('maps the configured claims, splitting `name` when given and family names are missing', () => {
    const sso = parseSsoConfig({ ...MINIMAL, GATEHOUSE_OIDC_USERNAME_CLAIM: 'upn', GATEHOUSE_OIDC_EMAIL_CLAIM: 'mail' }, BASE)!;
    expect(profileFromClaims(sso, { upn: 'jdoe', mail: 'j@acme.test', name: 'Jane Q. Doe', email_verified: 'true' })).toEqual({
      username: 'jdoe',
      firstName: 'Jane',
      lastName: 'Q. Doe',
      email: 'j@acme.test',
      emailVerified: true,
    });
    // Username claim absent: the email stands in; an invalid email is no email.
    expect(profileFromClaims(sso, { mail: 'k@acme.test' }).username).toBe('k@acme.test');
    expect(profileFromClaims(sso, { upn: 'kim', mail: 'not-an-email' })).toMatchObject({ username: 'kim', email: null, emailVerified: null });
    expect(profileFromClaims(sso, { given_name: 'A\u0000B\nC', family_name: 42 })).toMatchObject({ firstName: 'A B C', lastName: '42' });
  });
});
