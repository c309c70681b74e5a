/**
 * Reading what a directory asks for: filters (parsed by the maintained `scim2-parse-filter`, then turned into
 * SQL by src/scim/repo.ts), attribute paths, and the `attributes` / `excludedAttributes` projection.
 */
import { parse, type Filter } from 'scim2-parse-filter';
import { invalidFilter } from './errors';
import { GROUP_SCHEMA, USER_SCHEMA } from './schemas';

const MAX_FILTER_LENGTH = 4000;

/** Quoted strings in a filter: their content is left exactly as sent. */
const QUOTED = /"(?:[^"\\]|\\.)*"/g;

/**
 * Parses a filter. Entra ID writes booleans as `True`/`False`, which the grammar spells lower-case: outside
 * quoted strings they are lower-cased first.
 */
export function parseFilter(text: string): Filter {
  if (text.length > MAX_FILTER_LENGTH) throw invalidFilter(`The filter is longer than ${MAX_FILTER_LENGTH} characters.`);
  let normalised = '';
  let last = 0;
  for (const m of text.matchAll(QUOTED)) {
    normalised += text.slice(last, m.index).replace(/\b(true|false|null)\b/gi, (w) => w.toLowerCase()) + m[0];
    last = m.index! + m[0].length;
  }
  normalised += text.slice(last).replace(/\b(true|false|null)\b/gi, (w) => w.toLowerCase());
  try {
    return parse(normalised);
  } catch (e) {
    throw invalidFilter(`The filter could not be read: ${(e as Error).message}.`);
  }
}

/**
 * An attribute path as a lookup key: the core schema's URN prefix dropped, lower-cased (attribute names
 * are case-insensitive, RFC 7643 §2.1).
 */
export function attributeKey(path: string, kind: 'User' | 'Group'): string {
  const core = `${kind === 'User' ? USER_SCHEMA : GROUP_SCHEMA}:`.toLowerCase();
  const lower = path.toLowerCase();
  return lower.startsWith(core) ? lower.slice(core.length) : lower;
}

/** `attributes` / `excludedAttributes` of a request, as keys (attributeKey). */
export interface Projection {
  only?: string[];
  except?: string[];
}

export function projection(kind: 'User' | 'Group', attributes?: string, excluded?: string): Projection {
  const list = (s?: string) =>
    s
      ?.split(',')
      .map((a) => a.trim())
      .filter(Boolean)
      .map((a) => attributeKey(a, kind));
  return { only: list(attributes), except: list(excluded) };
}

/** Does the projection return this top-level attribute (so it is worth reading)? */
export function returns(p: Projection, attribute: string): boolean {
  const a = attribute.toLowerCase();
  if (p.only?.length) return p.only.some((o) => o === a || o.startsWith(`${a}.`) || o.startsWith(`${a}:`));
  return !p.except?.includes(a);
}

/**
 * Applies a projection to a resource. `id` and `schemas` are always returned (RFC 7643 §7). Extension
 * attributes are named `urn:…:User:role`; the key of the extension object is its URN.
 */
export function project(resource: Record<string, unknown>, p: Projection): Record<string, unknown> {
  if (!p.only?.length && !p.except?.length) return resource;
  const keep = (path: string) => {
    if (p.only?.length) return p.only.some((o) => o === path || path.startsWith(`${o}.`) || path.startsWith(`${o}:`) || o.startsWith(`${path}.`) || o.startsWith(`${path}:`));
    return !p.except!.some((e) => e === path || path.startsWith(`${e}.`) || path.startsWith(`${e}:`));
  };
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(resource)) {
    const k = key.toLowerCase();
    if (k === 'id' || k === 'schemas') {
      out[key] = value;
      continue;
    }
    if (!keep(k)) continue;
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const sep = k.startsWith('urn:') ? ':' : '.';
      const inner: Record<string, unknown> = {};
      for (const [sub, v] of Object.entries(value as Record<string, unknown>)) if (keep(`${k}${sep}${sub.toLowerCase()}`)) inner[sub] = v;
      if (Object.keys(inner).length) out[key] = inner;
    } else out[key] = value;
  }
  return out;
}
