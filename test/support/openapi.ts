/**
 * Checks API responses against the OpenAPI document: the operation must be documented, the status must be
 * one of its documented responses, the JSON body must match the response schema (Ajv, JSON Schema
 * 2020-12 — the dialect of OpenAPI 3.1) and required headers (Location, ETag, Retry-After) must be there.
 *
 * createTestApp() installs `recordApiResponses()` in front of the app, and `recordLaneResponses` around its
 * listener for what the decision lane answers before Koa, so every API response that any test produces is
 * checked; a mismatch is collected and fails the running test (see test/support/app.ts).
 */
import { appendFileSync } from 'node:fs';
import type Koa from 'koa';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { OpenApiDocument } from '../../src/api/openapi';
import { apiDocument } from '../../src/api/surfaces';

const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as typeof addFormatsModule;

/** The document the test apps serve (its paths do not depend on the server's address). */
export const servedDocument = (baseUrl = 'http://127.0.0.1:3000'): OpenApiDocument => apiDocument(baseUrl).document;

export interface ApiResponse {
  method: string;
  /** The request path (concrete, e.g. "/api/v1/users/jane"), or a template ("/api/v1/users/{username}"). */
  path: string;
  status: number;
  body: unknown;
  /** Response headers, lower-case names. */
  headers?: Record<string, string | string[] | number | undefined>;
}

export class OpenApiMismatch extends Error {}

interface Route {
  method: string;
  template: string;
  regex: RegExp;
  params: number;
}

export class ResponseValidator {
  readonly ajv: Ajv2020;
  private readonly routes: Route[] = [];
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(readonly doc: OpenApiDocument = servedDocument()) {
    // Strict mode catches misspelt keywords; `strictRequired` is off because "send one of these fields"
    // rules (`oneOf: [{required: [a]}, {required: [b]}]`) name properties defined beside them.
    this.ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
    addFormats(this.ajv);
    // The document is added whole so that "#/components/schemas/…" references resolve; its top-level
    // OpenAPI fields are declared as annotations so that strict mode accepts the root.
    for (const k of ['openapi', 'info', 'jsonSchemaDialect', 'servers', 'security', 'tags', 'paths', 'webhooks', 'components', 'externalDocs']) this.ajv.addKeyword(k);
    this.ajv.addSchema(doc as unknown as object, 'openapi.json');
    for (const [template, item] of Object.entries(doc.paths)) {
      const params = (template.match(/\{[^}]+\}/g) ?? []).length;
      const source = template
        .split(/(\{[^}]+\})/)
        .map((part) => (part.startsWith('{') ? '([^/]+)' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
        .join('');
      for (const method of Object.keys(item)) this.routes.push({ method: method.toUpperCase(), template, regex: new RegExp(`^${source}$`), params });
    }
  }

  /** The documented operation for a method and a concrete path (or template), the most specific first. */
  match(method: string, path: string): Route | undefined {
    const m = method.toUpperCase();
    return this.routes
      .filter((r) => r.method === m && (r.template === path || r.regex.test(path)))
      .sort((a, b) => (a.template === path ? -1 : b.template === path ? 1 : a.params - b.params))[0];
  }

  private pathExists(path: string): boolean {
    return this.routes.some((r) => r.template === path || r.regex.test(path));
  }

  /** Every schema of the document compiled once: throws on a schema Ajv (strict mode) refuses. */
  compileAll(): number {
    let n = 0;
    for (const [template, item] of Object.entries(this.doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        for (const status of Object.keys((op as { responses: Record<string, unknown> }).responses)) {
          if (this.schemaFor(method, template, status)) n++;
        }
        const body = (op as { requestBody?: unknown }).requestBody;
        if (body) {
          this.ajv.getSchema(`openapi.json#/paths/${pointer(template)}/${method}/requestBody/content/application~1json/schema`);
          n++;
        }
      }
    }
    for (const name of Object.keys(this.doc.components.schemas)) {
      if (!this.ajv.getSchema(`openapi.json#/components/schemas/${name}`)) throw new Error(`Schema ${name} did not compile`);
      n++;
    }
    return n;
  }

  private schemaFor(method: string, template: string, status: string): ValidateFunction | undefined {
    const op = this.doc.paths[template]?.[method] as { responses: Record<string, { content?: Record<string, unknown> }> } | undefined;
    if (!op?.responses[status]?.content?.['application/json']) return undefined;
    const key = `${method} ${template} ${status}`;
    let fn = this.compiled.get(key);
    if (!fn) {
      fn = this.ajv.getSchema(`openapi.json#/paths/${pointer(template)}/${method}/responses/${status}/content/application~1json/schema`);
      if (!fn) throw new Error(`No schema at ${key}`);
      this.compiled.set(key, fn);
    }
    return fn;
  }

  /** Validates a request body example or any value against a named component schema; returns the errors. */
  validateComponent(name: string, value: unknown): string[] {
    const fn = this.ajv.getSchema(`openapi.json#/components/schemas/${name}`);
    if (!fn) throw new Error(`No component schema ${name}`);
    return fn(value) ? [] : describeErrors(fn.errors ?? [], value);
  }

  /**
   * Throws OpenApiMismatch with a readable message when the response is not what the document says.
   * Returns "METHOD template status" of the documented response it matched (null for the router's 404/405).
   */
  check(res: ApiResponse): string | null {
    const method = res.method.toUpperCase();
    const where = `${method} ${res.path} → ${res.status}`;
    const route = this.match(method, res.path);
    if (!route) {
      // The router found nothing (no such path or method): only its 404 (or 405 with Allow) error may answer.
      const allow = res.headers?.allow;
      const routerError = res.status === 404 || (res.status === 405 && this.pathExists(res.path) && !!allow);
      if (routerError && this.validateComponent('Error', res.body).length === 0) return null;
      throw new OpenApiMismatch(`${where}: the OpenAPI document has no operation ${method} ${res.path}.`);
    }
    const op = this.doc.paths[route.template][method.toLowerCase()] as { responses: Record<string, { content?: unknown; headers?: Record<string, { required?: boolean }> }> };
    const documented = op.responses[String(res.status)];
    if (!documented) {
      throw new OpenApiMismatch(
        `${where}: status ${res.status} is not documented for ${method} ${route.template} (documented: ${Object.keys(op.responses).join(', ')}). Body: ${snippet(res.body)}`,
      );
    }
    for (const [name, h] of Object.entries(documented.headers ?? {})) {
      if (h.required && (res.headers?.[name.toLowerCase()] === undefined || res.headers?.[name.toLowerCase()] === '')) {
        throw new OpenApiMismatch(`${where}: the documented header ${name} is missing (${method} ${route.template} ${res.status}).`);
      }
    }
    const fn = this.schemaFor(method.toLowerCase(), route.template, String(res.status));
    if (!fn) {
      if (res.body !== undefined && res.body !== null && res.body !== '') {
        throw new OpenApiMismatch(`${where}: ${method} ${route.template} ${res.status} documents no body, but one was sent: ${snippet(res.body)}`);
      }
      return `${method} ${route.template} ${res.status}`;
    }
    if (!fn(res.body)) {
      throw new OpenApiMismatch(
        `${where}: the body does not match the schema of ${method} ${route.template} ${res.status}:\n  ${describeErrors(fn.errors ?? [], res.body).join('\n  ')}\n  Body: ${snippet(res.body)}`,
      );
    }
    return `${method} ${route.template} ${res.status}`;
  }
}

function pointer(template: string): string {
  return template.replace(/~/g, '~0').replace(/\//g, '~1');
}

function snippet(value: unknown, max = 600): string {
  const s = JSON.stringify(value) ?? String(value);
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

function valueAt(root: unknown, instancePath: string): unknown {
  let v: unknown = root;
  for (const part of instancePath.split('/').slice(1)) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return v;
}

export function describeErrors(errors: ErrorObject[], body: unknown): string[] {
  // oneOf/anyOf report every branch; the most specific messages come first, at most 8.
  const seen = new Set<string>();
  const out: string[] = [];
  for (const e of [...errors].sort((a, b) => b.instancePath.length - a.instancePath.length)) {
    const extra = e.keyword === 'additionalProperties' || e.keyword === 'unevaluatedProperties' ? ` "${(e.params as { additionalProperty?: string; unevaluatedProperty?: string }).additionalProperty ?? (e.params as { unevaluatedProperty?: string }).unevaluatedProperty}"` : '';
    const line = `${e.instancePath || '(body)'} ${e.message}${extra} [${e.schemaPath}] (value: ${snippet(valueAt(body, e.instancePath), 120)})`;
    if (!seen.has(line)) {
      seen.add(line);
      out.push(line);
    }
    if (out.length >= 8) break;
  }
  return out;
}

// ------------------------------------------------------------------------------- the test-suite recorder

let shared: ResponseValidator | undefined;

/** The validator for the served document (built once per test file). */
export function responseValidator(): ResponseValidator {
  return (shared ??= new ResponseValidator());
}

/**
 * Mismatches seen since the last `takeApiMismatches()`; how many responses were checked and which
 * documented responses ("METHOD /template status") they matched. With OPENAPI_COVERAGE=<file>, each matched
 * response is also appended to that file, to see which documented responses the whole suite exercises.
 */
const mismatches: string[] = [];
export const apiCheckStats = { checked: 0, matched: new Set<string>() };
const coverageFile = process.env.OPENAPI_COVERAGE;

export function takeApiMismatches(): string[] {
  return mismatches.splice(0, mismatches.length);
}

function bodyOf(ctx: Koa.Context): unknown {
  const b = ctx.body;
  if (b === undefined || b === null) return undefined;
  if (typeof b === 'string') {
    try {
      return JSON.parse(b);
    } catch {
      return b;
    }
  }
  if (Buffer.isBuffer(b) || typeof (b as { pipe?: unknown }).pipe === 'function') return '<binary>';
  // What the client receives: JSON.stringify drops undefined and converts dates, as Koa does.
  return JSON.parse(JSON.stringify(b));
}

/**
 * A Koa middleware, installed first, that checks every /api/v1 response (after the error handler has
 * shaped it) and records each mismatch. `validator` defaults to the served document.
 */
export function recordApiResponses(validator?: () => ResponseValidator, sink: (message: string) => void = (m) => mismatches.push(m)): Koa.Middleware {
  return apiResponseRecorder(validator, sink).middleware;
}

/** Marks a request whose response the Koa middleware checked. */
const SEEN_BY_KOA = Symbol('response checked by recordApiResponses');

/**
 * The decision lane (src/http/decisionLane.ts) answers most decision requests before Koa: wrapped around the
 * app's listener, this checks those answers too, from what the lane writes (status, headers, JSON body).
 */
export function recordLaneResponses(listener: ReturnType<Koa['callback']>): ReturnType<Koa['callback']> {
  const { check } = apiResponseRecorder(undefined, (m) => mismatches.push(m));
  return (req, res) => {
    const response = res as import('node:http').ServerResponse;
    let written: Record<string, string> = {};
    const writeHead = response.writeHead.bind(response) as (...args: unknown[]) => import('node:http').ServerResponse;
    (response as { writeHead: unknown }).writeHead = (status: number, ...rest: unknown[]) => {
      const headers = rest.find((r) => typeof r === 'object' && r !== null);
      if (Array.isArray(headers)) for (let i = 0; i < headers.length; i += 2) written[String(headers[i]).toLowerCase()] = String(headers[i + 1]);
      else if (headers) written = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
      return writeHead(status, ...rest);
    };
    const end = response.end.bind(response) as (...args: unknown[]) => import('node:http').ServerResponse;
    (response as { end: unknown }).end = (chunk?: unknown, ...rest: unknown[]) => {
      if (!(req as { [SEEN_BY_KOA]?: boolean })[SEEN_BY_KOA] && typeof chunk === 'string' && written['content-type']?.startsWith('application/json')) {
        check({ method: req.method ?? '', path: (req.url ?? '').split('?')[0], status: response.statusCode, body: JSON.parse(chunk), headers: written });
      }
      return end(chunk, ...rest);
    };
    return listener(req, res);
  };
}

function apiResponseRecorder(validator: (() => ResponseValidator) | undefined, sink: (message: string) => void) {
  const listening = new WeakSet<Koa>();
  const middleware: Koa.Middleware = async (ctx, next) => {
    // Koa answers this request: the lane wrapper (recordLaneResponses) leaves it to this middleware.
    (ctx.req as { [SEEN_BY_KOA]?: boolean })[SEEN_BY_KOA] = true;
    if (!listening.has(ctx.app)) {
      // Keep the error behind a 500 so that the mismatch report says what broke.
      listening.add(ctx.app);
      ctx.app.on('error', (err: unknown, errCtx?: Koa.Context) => {
        if (errCtx) errCtx.state.serverError = err;
      });
    }
    await next();
    // Every response of an API surface (src/api/operation.ts marks them), its 404s and 405s included.
    if (!ctx.state.isApi) return;
    if (ctx.method === 'OPTIONS' || ctx.method === 'HEAD') return;
    check({ method: ctx.method, path: ctx.path, status: ctx.status, body: bodyOf(ctx), headers: ctx.response.headers as ApiResponse['headers'] }, ctx.state.serverError as Error | undefined);
  };

  function check(response: ApiResponse, cause?: Error): void {
    apiCheckStats.checked += 1;
    try {
      const matched = (validator ?? responseValidator)().check(response);
      if (matched) {
        apiCheckStats.matched.add(matched);
        if (coverageFile) appendFileSync(coverageFile, `${matched}\n`);
      }
    } catch (e) {
      sink(`${e instanceof Error ? e.message : String(e)}${cause ? `\n  Server error: ${cause.stack ?? cause}` : ''}`);
    }
  }
  return { middleware, check };
}
