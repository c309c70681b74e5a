/**
 * What the decision lane (src/http/decisionLane.ts) leaves on a request it hands to Koa after doing part of
 * the work, so the full path neither reads the body again nor counts the request twice.
 */

/** The body the lane read (or the error reading it gave). */
export const PRE_READ_BODY = Symbol('request body read by the decision lane');
export type PreReadBody = { body: unknown } | { error: unknown };

/** The rate-limit wait the lane got when it counted the request (0: allowed). */
export const RATE_COUNTED = Symbol('rate limit already counted: the wait');

export interface HandedOver {
  [PRE_READ_BODY]?: PreReadBody;
  [RATE_COUNTED]?: number;
}
