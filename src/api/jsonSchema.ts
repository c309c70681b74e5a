/**
 * Joi → JSON Schema 2020-12 (the dialect of OpenAPI 3.1), read from Joi's public `describe()` output.
 *
 * Only the Joi features the API uses are translated; anything else throws when the document is built, so a
 * rule can never silently go missing from the description. Conversions (trim, case, normalisation) are what
 * the server does to a value, not rules a client must follow, and `custom()` checks cannot be said in JSON
 * Schema: those two are passed over.
 *
 * Conventions (see src/api/operation.ts):
 * - `.meta({ component: 'Name' })` on a schema makes it a named component: `$ref: #/components/schemas/Name`.
 * - A response object is built with `.prefs({ presence: 'required' })` (see `record()` in src/api/schemas.ts):
 *   every key is present unless `.optional()`; no other key appears.
 * - `.allow(null)` gives `type: [t, "null"]` (or `anyOf [{$ref}, {type: null}]` for a component).
 */
import type Joi from 'joi';

/** A JSON Schema object (OpenAPI 3.1 Schema Object). Kept loose: the test suite compiles every one with Ajv. */
export type JsonSchema = Record<string, unknown>;

interface Description {
  type: string;
  flags?: Record<string, unknown> & { presence?: string; description?: string; default?: unknown; only?: boolean; format?: string; unknown?: boolean };
  preferences?: { presence?: string; convert?: boolean };
  metas?: Array<Record<string, unknown>>;
  rules?: Array<{ name: string; args?: Record<string, unknown> }>;
  allow?: unknown[];
  invalid?: unknown[];
  examples?: unknown[];
  keys?: Record<string, Description>;
  patterns?: Array<{ schema?: Description; regex?: string; rule: Description }>;
  items?: Description[];
  matches?: Array<{ schema?: Description; ref?: unknown; is?: unknown }>;
  dependencies?: Array<{ rel: string; key?: string | null; peers: string[] }>;
  link?: unknown;
}

/**
 * Rules not described: those that change a value rather than restrict it (Joi `convert`), and `custom`
 * checks, which JSON Schema cannot say (e.g. that a name still fits its column once lower-cased).
 */
const NOT_DESCRIBED = new Set(['trim', 'case', 'normalize', 'replace', 'truncate', 'custom']);

export class JsonSchemaConverter {
  /** The named components met so far, by name. */
  readonly components: Record<string, JsonSchema> = {};
  private readonly sources = new Map<string, Joi.Schema>();

  /** The JSON Schema of a Joi schema; named components go to `components` and come back as `$ref`s. */
  convert(schema: Joi.Schema): JsonSchema {
    return this.fromDescription(schema.describe() as Description, 'optional', schema);
  }

  private fromDescription(d: Description, inheritedPresence: string, source?: Joi.Schema): JsonSchema {
    const component = d.metas?.find((m) => typeof m.component === 'string')?.component as string | undefined;
    if (component) {
      // A component is described once; the use site keeps only what varies there (null allowed).
      const bare: Description = { ...d, metas: d.metas?.filter((m) => m.component === undefined), allow: (d.allow ?? []).filter((v) => v !== null), flags: { ...d.flags } };
      delete bare.flags!.presence;
      delete bare.flags!.default;
      const described = this.body(bare, inheritedPresence);
      const known = this.components[component];
      if (known && JSON.stringify(known) !== JSON.stringify(described)) throw new Error(`Two different schemas are named "${component}".`);
      this.components[component] = described;
      if (source) this.sources.set(component, source);
      const ref = { $ref: `#/components/schemas/${component}` };
      return d.allow?.includes(null) ? { anyOf: [ref, { type: 'null' }] } : ref;
    }
    return this.body(d, inheritedPresence);
  }

  private body(d: Description, inheritedPresence: string): JsonSchema {
    const out: JsonSchema = {};
    const flags = d.flags ?? {};
    if (flags.description) out.description = flags.description;
    switch (d.type) {
      case 'any':
        break;
      case 'string':
        out.type = 'string';
        this.stringRules(d, out);
        break;
      case 'number':
        out.type = d.rules?.some((r) => r.name === 'integer') ? 'integer' : 'number';
        this.numberRules(d, out);
        break;
      case 'boolean':
        out.type = 'boolean';
        break;
      case 'date':
        if (flags.format !== 'iso') throw new Error('Only ISO dates (Joi.date().iso()) can be described.');
        out.type = 'string';
        out.format = 'date-time';
        break;
      case 'array':
        out.type = 'array';
        this.arrayRules(d, out, inheritedPresence);
        break;
      case 'object':
        out.type = 'object';
        this.objectRules(d, out, d.preferences?.presence ?? inheritedPresence);
        break;
      case 'alternatives': {
        const branches = (d.matches ?? []).map((m) => {
          if (!m.schema) throw new Error('Only Joi.alternatives().try(…) can be described (no conditions).');
          return this.fromDescription(m.schema, inheritedPresence);
        });
        out.anyOf = branches;
        break;
      }
      default:
        throw new Error(`Joi type "${d.type}" cannot be described.`);
    }
    this.values(d, out);
    if (flags.default !== undefined && typeof flags.default !== 'function') out.default = flags.default;
    if (d.examples?.length) out.examples = d.examples;
    for (const meta of d.metas ?? []) {
      for (const [k, v] of Object.entries(meta)) if (k.startsWith('x-') || k === 'deprecated') out[k] = v;
    }
    return out;
  }

  /** `valid(…)` (only these values) and `allow(…)` (these too): enum/const, null, and the empty string. */
  private values(d: Description, out: JsonSchema): void {
    const allowed = d.allow ?? [];
    if (d.flags?.only) {
      const values = allowed.filter((v) => v !== null);
      if (values.length === 1) out.const = values[0];
      else out.enum = values;
    } else {
      const extra = allowed.filter((v) => v !== null && !(v === '' && this.acceptsEmpty(out)));
      if (extra.length) {
        const { description, ...rest } = out;
        for (const k of Object.keys(out)) delete out[k];
        if (description) out.description = description;
        out.anyOf = [rest, ...extra.map((v) => ({ const: v }))];
      }
    }
    if (allowed.includes(null)) {
      if (typeof out.type === 'string') out.type = [out.type, 'null'];
      else if (out.anyOf) (out.anyOf as JsonSchema[]).push({ type: 'null' });
      else if (out.type === undefined && !out.enum && !out.const) {
        // any value: null is already one
      } else throw new Error('null cannot be added to this schema.');
      if (Array.isArray(out.enum)) out.enum = [...out.enum, null];
    }
  }

  private acceptsEmpty(s: JsonSchema): boolean {
    if (s.type !== 'string') return false;
    if (typeof s.minLength === 'number' && s.minLength > 0) return false;
    if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test('')) return false;
    return s.format === undefined;
  }

  private stringRules(d: Description, out: JsonSchema): void {
    for (const rule of d.rules ?? []) {
      const a = rule.args ?? {};
      switch (rule.name) {
        case 'min':
          out.minLength = a.limit;
          break;
        case 'max':
          out.maxLength = a.limit;
          break;
        case 'length':
          out.minLength = a.limit;
          out.maxLength = a.limit;
          break;
        case 'pattern': {
          const m = /^\/(.*)\/([a-z]*)$/s.exec(String(a.regex));
          if (!m || /[^u]/.test(m[2])) throw new Error(`The pattern ${String(a.regex)} cannot be described (only the u flag is portable).`);
          if ((a.options as { invert?: boolean } | undefined)?.invert) out.not = { pattern: m[1] };
          else if (out.pattern) out.allOf = [...((out.allOf as JsonSchema[]) ?? []), { pattern: m[1] }];
          else out.pattern = m[1];
          break;
        }
        case 'email':
          out.format = 'email';
          break;
        case 'isoDate':
          out.format = 'date-time';
          break;
        case 'guid':
          out.format = 'uuid';
          break;
        case 'uri':
          out.format = 'uri';
          break;
        default:
          if (!NOT_DESCRIBED.has(rule.name)) throw new Error(`The string rule "${rule.name}" cannot be described.`);
      }
    }
  }

  private numberRules(d: Description, out: JsonSchema): void {
    for (const rule of d.rules ?? []) {
      const a = rule.args ?? {};
      switch (rule.name) {
        case 'integer':
          break;
        case 'min':
          out.minimum = a.limit;
          break;
        case 'max':
          out.maximum = a.limit;
          break;
        case 'greater':
          out.exclusiveMinimum = a.limit;
          break;
        case 'less':
          out.exclusiveMaximum = a.limit;
          break;
        default:
          throw new Error(`The number rule "${rule.name}" cannot be described.`);
      }
    }
  }

  private arrayRules(d: Description, out: JsonSchema, presence: string): void {
    const items = (d.items ?? []).map((i) => this.fromDescription(i, presence));
    if (items.length === 1) out.items = items[0];
    else if (items.length > 1) out.items = { anyOf: items };
    for (const rule of d.rules ?? []) {
      const a = rule.args ?? {};
      switch (rule.name) {
        case 'min':
          out.minItems = a.limit;
          break;
        case 'max':
          out.maxItems = a.limit;
          break;
        case 'length':
          out.minItems = a.limit;
          out.maxItems = a.limit;
          break;
        case 'unique':
          out.uniqueItems = true;
          break;
        default:
          throw new Error(`The array rule "${rule.name}" cannot be described.`);
      }
    }
  }

  private objectRules(d: Description, out: JsonSchema, presence: string): void {
    const keys = d.keys;
    if (keys) {
      const properties: Record<string, JsonSchema> = {};
      const required: string[] = [];
      for (const [name, child] of Object.entries(keys)) {
        if (child.flags?.presence === 'forbidden') continue;
        properties[name] = this.fromDescription(child, presence);
        if ((child.flags?.presence ?? presence) === 'required') required.push(name);
      }
      out.properties = properties;
      if (required.length) out.required = required;
    }
    for (const rule of d.rules ?? []) {
      const a = rule.args ?? {};
      if (rule.name === 'min') out.minProperties = a.limit;
      else if (rule.name === 'max') out.maxProperties = a.limit;
      else throw new Error(`The object rule "${rule.name}" cannot be described.`);
    }
    if (d.patterns?.length) {
      if (d.patterns.length > 1 || d.patterns[0].regex) throw new Error('Only one Joi.object().pattern(Joi.string(), …) can be described.');
      out.additionalProperties = this.fromDescription(d.patterns[0].rule, presence);
    } else if (keys || d.flags?.unknown === false) {
      out.additionalProperties = d.flags?.unknown === true;
    }
    for (const dep of d.dependencies ?? []) {
      const oneEach = dep.peers.map((p) => ({ required: [p] }));
      if (dep.rel === 'or') out.anyOf = oneEach;
      else if (dep.rel === 'xor') out.oneOf = oneEach;
      else if (dep.rel === 'oxor') out.not = { required: dep.peers };
      else throw new Error(`The object dependency "${dep.rel}" cannot be described.`);
    }
  }
}
