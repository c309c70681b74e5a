import * as client from 'openid-client';
import type { SsoConfig } from './config';

/**
 * The OpenID Connect protocol side of single sign-on, all of it done by openid-client: discovery,
 * the authorization URL with PKCE, state and nonce, the code exchange and the ID token checks
 * (signature, issuer, audience, expiry, nonce), and the UserInfo request.
 */

/** What the browser's session keeps between /sso/login and /sso/callback. */
export interface SsoFlow {
  state: string;
  nonce: string;
  codeVerifier: string;
  startedAt: number;
}

/** The person the provider vouched for. */
export interface SsoIdentity {
  issuer: string;
  subject: string;
  /** ID token claims, completed by the UserInfo response when the provider has that endpoint. */
  claims: Record<string, unknown>;
}

/** Why the protocol part failed, in terms the sign-in page and the audit trail use. */
export class SsoProtocolError extends Error {
  constructor(
    public readonly status: number,
    public readonly reason: string,
    message: string,
    public readonly detail?: string,
  ) {
    super(message);
  }
}

const HTTP_TIMEOUT_SECONDS = 10;
const discoveries = new Map<string, Promise<client.Configuration>>();

function cacheKey(sso: SsoConfig): string {
  return JSON.stringify([sso.issuer, sso.clientId, sso.clientSecret, sso.tokenAuthMethod, sso.allowInsecureRequests]);
}

/** The provider's metadata, discovered once per process and settings; a failed discovery is retried next time. */
export function providerConfiguration(sso: SsoConfig): Promise<client.Configuration> {
  const key = cacheKey(sso);
  let pending = discoveries.get(key);
  if (!pending) {
    const auth = sso.tokenAuthMethod === 'client_secret_post' ? client.ClientSecretPost(sso.clientSecret) : client.ClientSecretBasic(sso.clientSecret);
    pending = client
      .discovery(new URL(sso.issuer), sso.clientId, { client_secret: sso.clientSecret }, auth, {
        execute: sso.allowInsecureRequests ? [client.allowInsecureRequests] : [],
        timeout: HTTP_TIMEOUT_SECONDS,
      })
      .catch((err: unknown) => {
        discoveries.delete(key);
        if ((err as { code?: string })?.code === 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED') {
          throw new SsoProtocolError(
            502,
            'issuer_mismatch',
            'The single sign-on provider describes itself as a different issuer than the one Gatehouse is configured for, so it is not trusted. Ask an administrator to check GATEHOUSE_OIDC_ISSUER.',
            describe(err),
          );
        }
        throw new SsoProtocolError(
          502,
          'provider_unreachable',
          'The single sign-on provider could not be reached. Try again in a moment, or sign in with your Gatehouse password.',
          describe(err),
        );
      });
    discoveries.set(key, pending);
  }
  return pending;
}

/** Starts the authorization-code flow: where to send the browser, and what to remember for the callback. */
export async function beginFlow(sso: SsoConfig): Promise<{ url: string; flow: SsoFlow }> {
  const configuration = await providerConfiguration(sso);
  const flow: SsoFlow = {
    state: client.randomState(),
    nonce: client.randomNonce(),
    codeVerifier: client.randomPKCECodeVerifier(),
    startedAt: Date.now(),
  };
  const url = client.buildAuthorizationUrl(configuration, {
    redirect_uri: sso.redirectUrl,
    scope: sso.scopes,
    response_type: 'code',
    state: flow.state,
    nonce: flow.nonce,
    code_challenge: await client.calculatePKCECodeChallenge(flow.codeVerifier),
    code_challenge_method: 'S256',
  });
  return { url: url.href, flow };
}

/** Completes the flow from the callback's query string; every check failing throws SsoProtocolError. */
export async function completeFlow(sso: SsoConfig, flow: SsoFlow, search: string): Promise<SsoIdentity> {
  const configuration = await providerConfiguration(sso);
  const current = new URL(sso.redirectUrl);
  current.search = search;
  try {
    const tokens = await client.authorizationCodeGrant(configuration, current, {
      expectedState: flow.state,
      expectedNonce: flow.nonce,
      pkceCodeVerifier: flow.codeVerifier,
      idTokenExpected: true,
    });
    const idToken = tokens.claims();
    if (!idToken) throw new SsoProtocolError(401, 'invalid_token', 'The provider did not send an ID token.');
    let claims: Record<string, unknown> = { ...idToken };
    if (configuration.serverMetadata().userinfo_endpoint && tokens.access_token) {
      const info = await client.fetchUserInfo(configuration, tokens.access_token, idToken.sub);
      claims = { ...claims, ...withoutEmpty(info), sub: idToken.sub };
    }
    return { issuer: idToken.iss, subject: idToken.sub, claims };
  } catch (err) {
    throw classify(err);
  }
}

function withoutEmpty(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null && v !== ''));
}

function describe(err: unknown): string {
  const e = err as { message?: string; cause?: { message?: string; code?: string } };
  const parts = [e?.message, e?.cause?.message].filter(Boolean);
  return parts.join(': ').slice(0, 500) || String(err).slice(0, 500);
}

/** Maps openid-client's errors to a reason, an HTTP status and a sentence a person can act on. */
function classify(err: unknown): SsoProtocolError {
  if (err instanceof SsoProtocolError) return err;
  const detail = describe(err);
  if (err instanceof client.AuthorizationResponseError) {
    const code = String(err.error || 'error').slice(0, 64);
    const message =
      code === 'access_denied'
        ? 'The single sign-on provider did not sign you in: access was denied or the sign-in was cancelled.'
        : `The single sign-on provider refused the sign-in (${code}).`;
    return new SsoProtocolError(401, `provider_error:${code}`, message, err.error_description ?? detail);
  }
  if (err instanceof client.ResponseBodyError) {
    return new SsoProtocolError(
      401,
      'token_request_refused',
      'The single sign-on provider refused to complete the sign-in. The link may have been used already; start again.',
      `${err.error}: ${err.error_description ?? ''}`.slice(0, 500),
    );
  }
  const inner = (err as { cause?: { message?: string } })?.cause?.message ?? '';
  const code = (err as { code?: string })?.code ?? '';
  if (/"state"/.test(inner)) {
    return new SsoProtocolError(400, 'state_mismatch', 'This sign-in response does not belong to the sign-in started in this browser. Start again.', detail);
  }
  if (/"iss"/.test(inner)) {
    return new SsoProtocolError(400, 'issuer_mismatch', 'This sign-in response came from an unknown issuer and was refused.', detail);
  }
  if (/nonce/.test(inner)) {
    return new SsoProtocolError(401, 'nonce_mismatch', 'The ID token was issued for a different sign-in (its nonce does not match) and was refused.', detail);
  }
  if (code === 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED') {
    return new SsoProtocolError(401, 'token_expired', 'The ID token from the provider has expired or is not yet valid. Check the server clocks, then start again.', detail);
  }
  if (code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' || code === 'OAUTH_RESPONSE_IS_NOT_JSON' || isNetworkFailure(err)) {
    return new SsoProtocolError(
      502,
      'provider_unreachable',
      'The single sign-on provider could not be reached to complete the sign-in. Try again in a moment, or sign in with your Gatehouse password.',
      detail,
    );
  }
  if (err instanceof client.ClientError && code.startsWith('OAUTH_')) {
    return new SsoProtocolError(401, 'invalid_token', 'The answer of the single sign-on provider failed validation and was refused.', detail);
  }
  // Anything else is a defect here, not the provider's doing: let it reach the error page and the log.
  throw err;
}

function isNetworkFailure(err: unknown): boolean {
  const name = (err as { name?: string })?.name;
  return (err instanceof TypeError && /fetch failed/i.test(err.message)) || name === 'AbortError' || name === 'TimeoutError';
}
