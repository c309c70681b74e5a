/**
 * The decision lane. POST /api/v1/check, /access/v1/evaluation and the other decision operations are the
 * product's hot path: the rest of the suite asks them on every request it serves, so what a decision costs
 * beyond the bare HTTP exchange is what Gatehouse costs its callers.
 *
 * Two levels, with the same operations, authentication and answers (src/api/operation.ts `decisionRoutes`):
 * - `withDecisionLane` sits in front of Koa, at the Node request listener. A request in the common form — a
 *   JSON body of known length, a bearer token this server's decision state knows and accepts, no
 *   consistency token, a body already in its canonical form (`canonicalBody`) — is answered there: the
 *   caller identified from memory, the operation's `decide`, one write of the answer with its headers.
 *   Everything else, and anything that goes wrong (a refusal to explain, a malformed body, an error), is
 *   handed to Koa, with the body already read when it was (PRE_READ_BODY), to be answered in full.
 * - `decisionLane` is the Koa middleware for what was handed over or arrives in another form: right after
 *   the request context and the error handler, ahead of static files, SCIM, the console and the routers.
 */
import http, { IncomingMessage, ServerResponse } from 'node:http';
import type Koa from 'koa';
import Bourne from '@hapi/bourne';
import type { Config } from '../config';
import type { DecisionCaller } from '../api/auth';
import { PRE_READ_BODY, RATE_COUNTED, type HandedOver, type PreReadBody } from './handOver';
import type { OperationInput } from '../api/operation';
import { decisionStateNow, followerPosition } from '../changes/follower';
import type { Ops } from '../ops';
import { requestIdFrom, writeAccessLog } from '../ops/requestContext';
import { satisfiedBy, type Requirement } from './routing';
import { API_HEADERS, HSTS, setApiSecurityHeaders } from './security';
import type { AppServices } from './types';

declare module 'koa' {
  interface DefaultState {
    /** A decision request: its access-log line is written at debug level unless it failed or was slow (src/ops/requestContext.ts). */
    decisionRequest?: boolean;
  }
}

/** A decision operation as the lane knows it. */
export interface DecisionRoute {
  /** The route pattern (the metrics' label). */
  route: string;
  /** The route answered in Koa: authentication, then the operation. */
  middleware: Koa.Middleware;
  /** What answering it without Koa takes; absent when the operation cannot be answered so. */
  alone?: {
    caller: DecisionCaller;
    requires: Requirement;
    canonicalBody: (body: unknown) => boolean;
    decide: (services: AppServices, input: OperationInput<unknown, unknown, unknown, unknown>) => unknown;
  };
}

/** Koa's request listener (`app.callback()`). */
export type KoaListener = ReturnType<Koa['callback']>;

/** As the API's JSON body parser (src/api/operation.ts). */
const JSON_LIMIT = 2 * 1024 * 1024;
const CONSISTENCY_HEADER = 'gatehouse-consistency-token';
const NO_INPUT = Object.freeze({});

export function decisionLane(routes: ReadonlyMap<string, DecisionRoute>, config: Config): Koa.Middleware {
  return (ctx, next) => {
    const route = routes.get(`${ctx.method} ${ctx.path}`);
    if (!route) return next();
    ctx.state.decisionRequest = true;
    setApiSecurityHeaders(ctx, config);
    return route.middleware(ctx, next);
  };
}

/** Whether the request reached us over HTTPS, as Koa's `ctx.secure` tells it. */
function secure(req: http.IncomingMessage, config: Config): boolean {
  if ((req.socket as { encrypted?: boolean }).encrypted) return true;
  const forwarded = config.trustProxy ? req.headers['x-forwarded-proto'] : undefined;
  return typeof forwarded === 'string' && forwarded.split(',', 1)[0].trim() === 'https';
}

/** The request as the lane can take it alone: a POST with a plain JSON body of known, acceptable length. */
function plainJsonPost(req: http.IncomingMessage): boolean {
  const h = req.headers;
  const type = h['content-type'];
  const length = Number(h['content-length']);
  return (
    (type === 'application/json' || type === 'application/json; charset=utf-8') &&
    length > 0 &&
    length <= JSON_LIMIT &&
    !h['transfer-encoding'] &&
    !h['content-encoding'] &&
    !h[CONSISTENCY_HEADER]
  );
}

/** Strict JSON (RFC 7159 whitespace, then an object or an array), as the API's body parser accepts it. */
const STRICT_JSON = /^[\x20\x09\x0a\x0d]*[[{]/;

/**
 * The body of a request whose Content-Length `plainJsonPost` checked: read whole, then parsed as the API's
 * body parser (co-body) parses it — @hapi/bourne, which refuses prototype poisoning (`__proto__`,
 * `constructor.prototype`) — without its stream machinery. Errors carry the status the full path answers.
 */
function readJson(req: http.IncomingMessage): Promise<unknown> {
  const expected = Number(req.headers['content-length']);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('aborted', () => reject(Object.assign(new Error('request aborted'), { status: 400 })));
    req.on('end', () => {
      if (received !== expected) return reject(Object.assign(new Error('request size did not match content length'), { status: 400 }));
      try {
        resolve(parseJson(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, received)));
      } catch (err) {
        reject(Object.assign(err as Error, { status: 400 }));
      }
    });
  });
}

/** A list this long in an answer is serialised in pieces of PIECE items (a batch's 1,000 answers). */
const PIECE = 64;

/**
 * The answer's JSON, exactly as JSON.stringify writes it. An answer that is one long list (a batch: `{"results":
 * [...]}`, `{"evaluations": [...]}`) is serialised a few dozen items at a time and the pieces encoded into one
 * buffer: JSON.stringify of the whole would make one string of some 250 KB — allocated in V8's large-object
 * space, whose fresh pages cost more than the serialising — then encoded to UTF-8 once to count its bytes and
 * once more to send them. Anything else is the string JSON.stringify makes.
 */
export function answerJson(value: unknown): string | Buffer {
  const key = longListKey(value);
  if (key === undefined) return JSON.stringify(value);
  const list = (value as Record<string, unknown[]>)[key];
  const pieces: string[] = [];
  let bytes = 0;
  for (let i = 0; i < list.length; i += PIECE) {
    // A piece is "[a,b,…]": the items as JSON.stringify writes them in an array (undefined as null…).
    const piece = JSON.stringify(list.slice(i, i + PIECE));
    pieces.push(piece);
    bytes += Buffer.byteLength(piece);
  }
  const head = `{${JSON.stringify(key)}:[`;
  // Each piece loses its brackets; the pieces are joined by commas (one fewer than pieces), in `head…]}`.
  bytes += Buffer.byteLength(head) + 2 - pieces.length * 2 + (pieces.length - 1);
  const out = Buffer.allocUnsafe(bytes);
  let at = out.write(head, 0, 'utf8');
  for (let p = 0; p < pieces.length; p++) {
    if (p) at += out.write(',', at, 'latin1');
    const piece = pieces[p];
    at += out.write(piece.slice(1, -1), at, 'utf8');
  }
  at += out.write(']}', at, 'latin1');
  if (at !== bytes) throw new Error(`answer serialised to ${at} bytes, ${bytes} expected`);
  return out;
}

/** The key of a plain object's only property when that is a list of more than PIECE items. */
function longListKey(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) return undefined;
  let key: string | undefined;
  for (const k in value) {
    if (key !== undefined || !Object.prototype.hasOwnProperty.call(value, k)) return undefined;
    key = k;
  }
  if (key === undefined || key === 'toJSON') return undefined;
  const list = (value as Record<string, unknown>)[key];
  return Array.isArray(list) && Object.getPrototypeOf(list) === Array.prototype && list.length > PIECE ? key : undefined;
}

const PARSE_OPTIONS = { protoAction: 'error' } as const;
/**
 * For a body that cannot hold a `__proto__` key. @hapi/bourne looks for one only when the text matches its
 * pattern, `"` then `_` or a `\u005F` escape…: a body with neither `"_` nor `"\` in it never does, and
 * bourne's answer for it is JSON.parse's. Not testing the pattern over each piece of a batch saves a
 * regular expression run over 145 KB.
 */
const PLAIN_PARSE_OPTIONS = { protoAction: 'ignore' } as const;

/** How bourne must parse `body`: 'ignore' (plain JSON.parse) when no `__proto__` key can be in it. */
function parseOptionsFor(body: Buffer) {
  return quoteBefore(body, 0x5f) || quoteBefore(body, 0x5c) ? PARSE_OPTIONS : PLAIN_PARSE_OPTIONS;
}

/** Whether `byte` ('_' or '\\') comes right after a `"` somewhere in `body` (a one-byte search: memchr). */
function quoteBefore(body: Buffer, byte: number): boolean {
  for (let at = body.indexOf(byte); at >= 0; at = body.indexOf(byte, at + 1)) if (at > 0 && body[at - 1] === 0x22) return true;
  return false;
}

/** The body as the API's parser reads it: UTF-8 without a byte-order mark, strict JSON, no prototype poisoning. */
export function parseJson(body: Buffer): unknown {
  if (body.length > 2 * PIECE_BYTES) {
    const parsed = parseInPieces(body);
    if (parsed !== undefined) return parsed;
  }
  // A byte-order mark is dropped, as the API's parser's decoding does.
  const text = body.toString('utf8').replace(/^\uFEFF/, '');
  if (!STRICT_JSON.test(text)) throw new SyntaxError('invalid JSON, only supports object and array');
  return Bourne.parse(text, parseOptionsFor(body));
}

/** The size of the pieces `parseInPieces` cuts: their strings stay well below V8's 128 KB large-object size. */
const PIECE_BYTES = 48 * 1024;
/** Where two items of a list of objects meet: `},{` (a cut falls between the `}` and the `,`). */
const ITEMS_MEET = Buffer.from('},{');

const isJsonSpace = (byte: number | undefined) => byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;

/**
 * A body of the form `{"checks": [{…},{…},…]}` — an object whose only key holds a long list of objects —
 * parsed in pieces of some 48 KB, cut where two items meet. JSON.parse of the whole would need the body as
 * one string, which from 128 KB on V8 allocates in its large-object space (~0.6 ms for a 1,000-item batch of
 * 145 KB, more than parsing it). Each piece is parsed as the whole would be (@hapi/bourne: strict JSON, a
 * `__proto__` key refused), and the pieces must fit together exactly: the first, closed with `]}`, must be an
 * object with one key and a list; each middle piece a list of whole items; the last piece the rest of the list
 * and then `]`, `}` and nothing else. A cut inside a string or deeper in an item leaves a piece that does not
 * parse. Anything that does not fit — another shape, a cut that does not work out, any error — gives
 * undefined, and the body is parsed whole, which answers as it always did.
 */
function parseInPieces(body: Buffer): unknown {
  const cuts: number[] = [];
  for (let from = PIECE_BYTES; from < body.length - PIECE_BYTES / 2; ) {
    const at = body.indexOf(ITEMS_MEET, from);
    if (at < 0 || at > body.length - PIECE_BYTES / 2) break;
    cuts.push(at);
    from = at + PIECE_BYTES;
  }
  if (!cuts.length) return undefined;
  // The end of the list: the body ends with `]`, `}` and whitespace around them.
  let end = body.length;
  while (end > 0 && isJsonSpace(body[end - 1])) end--;
  if (body[end - 1] !== 0x7d) return undefined;
  end--;
  while (end > 0 && isJsonSpace(body[end - 1])) end--;
  if (body[end - 1] !== 0x5d) return undefined;
  try {
    let first = body.toString('utf8', 0, cuts[0] + 1);
    if (first.charCodeAt(0) === 0xfeff) first = first.slice(1);
    if (!STRICT_JSON.test(first)) return undefined;
    const options = parseOptionsFor(body);
    const head: unknown = Bourne.parse(`${first}]}`, options);
    if (typeof head !== 'object' || head === null || Array.isArray(head)) return undefined;
    const keys = Object.keys(head);
    const list = keys.length === 1 ? (head as Record<string, unknown>)[keys[0]] : undefined;
    if (!Array.isArray(list)) return undefined;
    for (let i = 0; i < cuts.length; i++) {
      // A middle piece runs from the `{` after its cut to the `}` before the next; the last one to the list's `]`.
      const text = i < cuts.length - 1 ? `[${body.toString('utf8', cuts[i] + 2, cuts[i + 1] + 1)}]` : `[${body.toString('utf8', cuts[i] + 2, end)}`;
      const piece: unknown = Bourne.parse(text, options);
      if (!Array.isArray(piece)) return undefined;
      for (let j = 0; j < piece.length; j++) list.push(piece[j]);
    }
    return head;
  } catch {
    return undefined;
  }
}

/**
 * Wraps Koa's request listener: the decision routes' requests in the common form are answered here, every
 * other request goes to Koa untouched.
 */
export function withDecisionLane(koa: KoaListener, routes: ReadonlyMap<string, DecisionRoute>, services: AppServices, ops: Ops): KoaListener {
  const { config, db } = services;
  const { logger, metrics, lifecycle } = ops;

  /** Koa answers in full; what the lane already did (read the body, counted the rate limit) goes with it. */
  function handOver(req: http.IncomingMessage, res: http.ServerResponse, done: { body?: PreReadBody; rateWait?: number }): Promise<void> {
    const handed = req as http.IncomingMessage & HandedOver;
    if (done.body) handed[PRE_READ_BODY] = done.body;
    if (done.rateWait !== undefined) handed[RATE_COUNTED] = done.rateWait;
    return koa(req, res);
  }

  async function answer(req: http.IncomingMessage, res: http.ServerResponse, route: DecisionRoute, alone: NonNullable<DecisionRoute['alone']>, started: bigint, userId: number): Promise<void> {
    lifecycle.inFlight++;
    let handed: PreReadBody | undefined;
    try {
      let body: unknown;
      try {
        body = await readJson(req);
      } catch (error) {
        handed = { error };
        return;
      }
      if (!alone.canonicalBody(body)) {
        handed = { body };
        return;
      }
      let json: string | Buffer;
      try {
        json = answerJson(await alone.decide(services, { params: NO_INPUT, query: NO_INPUT, body, headers: NO_INPUT, target: undefined }));
      } catch {
        // An answer that is an error (a user that does not exist…) is explained by the full path.
        handed = { body };
        return;
      }
      const requestId = requestIdFrom(req.headers['x-request-id']);
      const headers: string[] = ['Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(typeof json === 'string' ? Buffer.byteLength(json) : json.length)];
      for (const [name, value] of API_HEADERS) headers.push(name, value);
      if (config.cookieSecure || secure(req, config)) headers.push('Strict-Transport-Security', HSTS);
      headers.push('X-Request-Id', requestId, 'Gatehouse-Consistency-Token', String(followerPosition(db)));
      res.writeHead(200, headers);
      res.end(json);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.observeRequest('POST', route.route, 200, seconds);
      writeAccessLog(logger, { requestId, method: 'POST', route: route.route, path: route.route, status: 200, seconds, userId, decision: true });
    } finally {
      lifecycle.inFlight--;
      // Counted already: the full path must not count the request against the rate limit again.
      if (handed) void handOver(req, res, { body: handed, rateWait: 0 });
    }
  }

  return (request, response) => {
    // Gatehouse serves HTTP/1.1 (behind a proxy for anything else); another kind of request goes to Koa.
    if (!(request instanceof IncomingMessage) || !(response instanceof ServerResponse)) return koa(request, response);
    const req = request;
    const res = response;
    const route = req.method === 'POST' ? routes.get(`POST ${req.url}`) : undefined;
    const alone = route?.alone;
    // Debug logging and draining are rare and want the full path (a log line per request, Connection: close).
    if (!alone || !plainJsonPost(req) || lifecycle.draining || logger.isLevelEnabled('debug')) return koa(req, res);
    const started = process.hrtime.bigint();
    const state = decisionStateNow(db);
    const caller = state && alone.caller(config, state, req.headers.authorization, 'POST', route.route, Date.now());
    // A caller counted against the rate limit already is not counted again by the full path.
    if (!caller || caller.rateWait > 0 || !satisfiedBy(caller.user, alone.requires)) return handOver(req, res, { rateWait: caller?.rateWait });
    return answer(req, res, route, alone, started, caller.user.id).catch((err: Error) => {
      logger.error({ err: { type: err?.name, message: err?.message, stack: err?.stack } }, 'decision lane failed');
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ error: { code: 'internal_error', message: 'Something went wrong on our side. The error has been logged; please try again.', details: null } }));
    });
  };
}
