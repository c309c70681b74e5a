/**
 * The API reference page (/api-docs) from the OpenAPI document: operations grouped by tag, each with its
 * permission, parameters, request body fields, responses and a curl example, and the schemas they use.
 * Rendered server-side (views/api/reference.eta); no client script.
 */
import type { Requirement } from '../http/routing';
import { requirementText, TAGS, type OpenApiDocument, type Schema } from './openapi';

export interface RefField {
  name: string;
  /** HTML (escaped type words, links to schemas): print raw. */
  type: string;
  required: boolean;
  /** HTML made here from escaped text (code spans, bold): print raw. */
  description: string;
  constraints: string[];
}

/** A type as words, with an optional link to a schema of the page. */
export interface RefType {
  parts: Array<{ text: string; schema?: string }>;
}

export interface RefResponse {
  status: string;
  description: string;
  type: string | null;
  headers: string[];
  error: boolean;
}

export interface RefOperation {
  anchor: string;
  method: string;
  path: string;
  summary: string;
  description: string;
  permission: string;
  parameters: Array<RefField & { in: string }>;
  body: { type: string; fields: RefField[]; rules: string[]; example: string } | null;
  responses: RefResponse[];
  curl: string;
}

export interface RefSection {
  name: string;
  anchor: string;
  description: string;
  operations: RefOperation[];
}

export interface RefSchema {
  name: string;
  anchor: string;
  description: string;
  type: string;
  fields: RefField[];
}

export interface ReferenceView {
  info: { title: string; version: string; description: string[] };
  baseUrl: string;
  sections: RefSection[];
  schemas: RefSchema[];
  operationCount: number;
}

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** Escapes the text, then turns `code` and **bold** into markup. The result is safe to print raw. */
export function inline(text: string): string {
  return escapeHtml(text)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
    .replace(/\*([^*]+)\*/g, '<em>$1</em>');
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
const schemaName = (ref: string) => ref.replace('#/components/schemas/', '');

function typeOf(s: Schema | undefined): RefType {
  if (!s) return { parts: [{ text: 'any' }] };
  if (s.$ref) return { parts: [{ text: schemaName(s.$ref), schema: schemaName(s.$ref) }] };
  const alternatives = s.oneOf ?? s.anyOf;
  if (alternatives) {
    const parts: RefType['parts'] = [];
    alternatives.forEach((a, i) => {
      if (i) parts.push({ text: ' or ' });
      parts.push(...typeOf(a).parts);
    });
    return { parts };
  }
  if (s.allOf) {
    // An offset page: the shared wrapper plus its items.
    const items = s.properties?.items?.items;
    return { parts: [{ text: 'page of ' }, ...typeOf(items).parts] };
  }
  const types = (Array.isArray(s.type) ? s.type : s.type ? [s.type] : []).filter((t) => t !== 'null');
  const nullable = Array.isArray(s.type) && s.type.includes('null');
  let parts: RefType['parts'];
  if (types[0] === 'array') parts = [{ text: 'array of ' }, ...typeOf(s.items).parts];
  else if (types[0] === 'object' && s.properties) parts = [{ text: `object {${Object.keys(s.properties).join(', ')}}` }];
  else if (types.length) parts = [{ text: types.join(' or ') + (s.format ? ` (${s.format})` : '') }];
  else parts = [{ text: 'any JSON' }];
  if (nullable) parts.push({ text: ' or null' });
  return { parts };
}

/** The type as HTML: escaped words, schema names linked to their definition on the page. */
function typeHtml(s: Schema | undefined): string {
  return typeOf(s)
    .parts.map((p) => (p.schema ? `<a href="#schema-${escapeHtml(p.schema)}">${escapeHtml(p.text)}</a>` : escapeHtml(p.text)))
    .join('');
}

function constraintsOf(s: Schema | undefined): string[] {
  if (!s) return [];
  const out: string[] = [];
  const target = s.oneOf ? s.oneOf : [s];
  for (const x of target) {
    if (x.enum) out.push(`one of ${x.enum.map((v) => JSON.stringify(v)).join(', ')}`);
    if (x.minLength !== undefined && x.maxLength !== undefined) out.push(`${x.minLength}–${x.maxLength} characters`);
    else if (x.maxLength !== undefined) out.push(`at most ${x.maxLength} characters`);
    else if (x.minLength !== undefined) out.push(`at least ${x.minLength} characters`);
    if (x.minimum !== undefined && x.maximum !== undefined) out.push(`${x.minimum}–${x.maximum.toLocaleString('en-US')}`);
    else if (x.minimum !== undefined) out.push(`≥ ${x.minimum}`);
    else if (x.maximum !== undefined) out.push(`≤ ${x.maximum.toLocaleString('en-US')}`);
    if (x.maxItems !== undefined) out.push(`at most ${x.maxItems.toLocaleString('en-US')} items`);
    if (x.minItems !== undefined) out.push(`at least ${x.minItems} item${x.minItems === 1 ? '' : 's'}`);
    if (x.pattern) out.push(`pattern ${x.pattern}`);
    if (x.default !== undefined) out.push(`default ${JSON.stringify(x.default)}`);
    if (x.items) out.push(...constraintsOf(x.items).map((c) => `each: ${c}`));
  }
  return out;
}

function fieldsOf(s: Schema | undefined, doc: OpenApiDocument): RefField[] {
  if (!s) return [];
  if (s.$ref) return [];
  const props: Record<string, Schema> = { ...(s.properties ?? {}) };
  const required = new Set(s.required ?? []);
  for (const part of s.allOf ?? []) {
    const base = part.$ref ? doc.components.schemas[schemaName(part.$ref)] : part;
    for (const [k, v] of Object.entries(base?.properties ?? {})) if (!(k in props) || k === 'items') props[k] = k === 'items' ? props[k] ?? v : v;
    for (const r of base?.required ?? []) required.add(r);
  }
  return Object.entries(props).map(([name, p]) => ({
    name,
    type: typeHtml(p),
    required: required.has(name),
    description: inline(p.description ?? p.oneOf?.map((o) => o.description).filter(Boolean).join(' Or: ') ?? ''),
    constraints: constraintsOf(p),
  }));
}

function bodyRules(s: Schema): string[] {
  const rules: string[] = [];
  if (s.additionalProperties === false) rules.push('Any other field is refused (400, naming it).');
  if (s.minProperties) rules.push(`Send at least ${s.minProperties} field${s.minProperties === 1 ? '' : 's'}.`);
  const alt = s.oneOf ?? s.anyOf;
  if (alt) {
    const names = alt.map((a) => (a.required ?? []).map((r) => `\`${r}\``).join(' and '));
    rules.push(s.oneOf ? `Send exactly one of ${names.join(', ')}.` : `Send ${names.join(' and/or ')}.`);
  }
  return rules.map(inline);
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function curlFor(baseUrl: string, method: string, path: string, op: Record<string, any>, requires: Requirement): string {
  let url = path;
  const query: string[] = [];
  const headers: string[] = [];
  for (const p of (op.parameters ?? []) as Array<{ name: string; in: string; required: boolean; example?: unknown; schema: Schema }>) {
    const example = p.example ?? p.schema.examples?.[0] ?? (p.schema.type === 'integer' ? 1 : `<${p.name}>`);
    if (p.in === 'path') url = url.replace(`{${p.name}}`, encodeURIComponent(String(example)));
    else if (p.in === 'query' && p.required) query.push(`${p.name}=${encodeURIComponent(String(example))}`);
  }
  const lines = [`curl -X ${method} ${shellQuote(`${baseUrl}${url}${query.length ? `?${query.join('&')}` : ''}`)}`];
  if (requires.kind !== 'public') headers.push('-H "Authorization: Bearer $GATEHOUSE_TOKEN"');
  const example = op.requestBody?.content?.['application/json']?.example;
  if (example !== undefined) {
    headers.push(`-H 'Content-Type: application/json'`);
    headers.push(`-d ${shellQuote(JSON.stringify(example))}`);
  }
  return [...lines, ...headers.map((h) => `  ${h}`)].join(' \\\n');
}

/** The reference for a reader who reached the console at `origin` (paths in the document are absolute). */
export function referenceView(doc: OpenApiDocument, origin: string): ReferenceView {
  const baseUrl = origin;
  const byTag = new Map<string, RefOperation[]>();
  let count = 0;
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, raw] of Object.entries(item)) {
      const op = raw as Record<string, any>;
      const requires = op['x-requires'] as Requirement;
      const params = (op.parameters ?? []) as Array<{ name: string; in: string; required: boolean; description: string; schema: Schema }>;
      const bodySchema = op.requestBody?.content?.['application/json']?.schema as Schema | undefined;
      const resolvedBody = bodySchema?.$ref ? doc.components.schemas[schemaName(bodySchema.$ref)] : bodySchema;
      const responses = Object.entries(op.responses as Record<string, { description: string; headers?: Record<string, unknown>; content?: Record<string, { schema: Schema }> }>).map(
        ([status, r]) => ({
          status,
          description: inline(r.description),
          type: r.content ? typeHtml(r.content['application/json'].schema) : null,
          headers: Object.keys(r.headers ?? {}),
          error: Number(status) >= 400,
        }),
      );
      const entry: RefOperation = {
        anchor: `op-${op.operationId}`,
        method: method.toUpperCase(),
        path,
        summary: op.summary,
        description: inline(String(op.description).split('\n\nRequires:')[0]),
        permission: inline(requirementText(requires)),
        parameters: params.map((p) => ({
          in: p.in,
          name: p.name,
          type: typeHtml(p.schema),
          required: p.required,
          description: inline(p.description),
          constraints: constraintsOf(p.schema),
        })),
        body: bodySchema
          ? {
              type: typeHtml(bodySchema),
              fields: fieldsOf(resolvedBody, doc),
              rules: resolvedBody ? bodyRules(resolvedBody) : [],
              example: JSON.stringify(op.requestBody.content['application/json'].example, null, 2),
            }
          : null,
        responses,
        curl: curlFor(baseUrl, method.toUpperCase(), path, op, requires),
      };
      const tag = (op.tags as string[])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag)!.push(entry);
      count++;
    }
  }
  const sections = TAGS.filter((t) => byTag.has(t.name)).map((t) => ({
    name: t.name,
    anchor: `tag-${slug(t.name)}`,
    description: inline(t.description),
    operations: byTag.get(t.name)!,
  }));
  const schemas = Object.entries(doc.components.schemas).map(([name, s]) => ({
    name,
    anchor: `schema-${name}`,
    description: inline(s.description ?? ''),
    type: s.allOf || !s.properties ? typeHtml(s) : 'object',
    fields: fieldsOf(s, doc),
  }));
  return {
    info: { title: String(doc.info.title), version: String(doc.info.version), description: String(doc.info.description).split('\n\n').map(inline) },
    baseUrl,
    sections,
    schemas,
    operationCount: count,
  };
}
