/**
 * Schema pieces every API operation shares (see src/api/operation.ts): the error body, path parameters that
 * name an object, paging, and the builders of response schemas.
 */
import Joi from 'joi';

/** Ids are positive 32-bit integers. */
export const ID_MAX = 2147483647;

export const id = (description?: string) => {
  const s = Joi.number().integer().min(1).max(ID_MAX);
  return description ? s.description(description) : s;
};
export const count = (description?: string) => {
  const s = Joi.number().integer().min(0);
  return description ? s.description(description) : s;
};
export const text = (description?: string) => (description ? Joi.string().description(description) : Joi.string());
export const flag = (description?: string) => (description ? Joi.boolean().description(description) : Joi.boolean());
export const time = (description?: string) => (description ? Joi.date().iso().description(description) : Joi.date().iso());
export const list = (items: Joi.Schema, description?: string) => (description ? Joi.array().items(items).description(description) : Joi.array().items(items));

/** The optimistic-concurrency version a row carries (and a client sends back to refuse a stale save). */
export const version = (description = 'Version of the row; send it back to refuse a save over a change made meanwhile (409).') =>
  Joi.number().integer().min(1).max(ID_MAX).description(description);

/**
 * A response object: every key is always present unless marked `.optional()`, and no other key appears (so
 * the test suite notices a field the document forgot). Name it with `.meta({ component: 'Name' })`.
 */
export function record(keys: Record<string, Joi.Schema>, description?: string): Joi.ObjectSchema {
  const s = Joi.object(keys).prefs({ presence: 'required' });
  return description ? s.description(description) : s;
}

/** A named component of the document. */
export const component = <S extends Joi.Schema>(name: string, schema: S): S => schema.meta({ component: name }) as S;

// ------------------------------------------------------------------------------------------------- errors

export const ErrorBody = component(
  'Error',
  record(
    {
      error: record({
        code: text('Stable machine-readable code: `validation_failed`, `not_found`, `conflict`, `forbidden`, `unauthenticated`, …').example('not_found'),
        message: text('What went wrong, in a sentence a person can act on.'),
        details: Joi.object({
          type: text('With `not_found`: the kind of object that does not exist, e.g. `user`, `group`, `workspace`.'),
          fields: Joi.object()
            .pattern(Joi.string(), Joi.string())
            .description('Field (or query parameter) → message; nested fields are dotted (`groups.3`). An unknown field is reported as "<name> is not a known field."'),
          info: Joi.any().description('More about a field error.'),
          scope: text('With `insufficient_scope`: the scope the machine client lacks (`decisions`, `read`, `write` or `scim`).'),
          children: count('Sub-workspaces the workspace still holds.'),
          assets: count('Assets the workspace still holds.'),
          permissions: count('Domain permissions still granted in the domain.'),
        })
          .prefs({ presence: 'optional' })
          .allow(null)
          .description('Null, or more about the error.'),
      }),
    },
    'Every error answers with this body. Nothing is written when an error is returned.',
  ),
);

// ----------------------------------------------------------------------------------------- path parameters

/** A path parameter naming an object of this type: an invalid value is that object's 404. */
export const names = <S extends Joi.Schema>(type: string, schema: S): S => schema.meta({ names: type }) as S;

export const usernameParam = names('User', Joi.string().min(1).max(64).description('The username (case-insensitive).').example('jane.doe'));
export const groupNameParam = names(
  'Group',
  Joi.string().min(1).max(100).description('The group name (case-insensitive; URL-encode spaces and other reserved characters).').example('Sales Analysts'),
);
export const idParam = (type: string) => names(type, id(`The ${type.toLowerCase()}'s numeric id.`).example(12));

// ------------------------------------------------------------------------------------------------- paging

export const MAX_OFFSET = 10_000_000;

/** `limit` and `offset` with the bounds every offset-paginated list enforces. */
export function paging(defaultLimit: number) {
  return {
    limit: Joi.number().integer().min(1).max(500).default(defaultLimit).description(`Page size (default ${defaultLimit}).`),
    offset: Joi.number().integer().min(0).max(MAX_OFFSET).default(0).description('Rows to skip: the `nextOffset` of the previous page.'),
  };
}

export interface Paging {
  limit: number;
  offset: number;
}

export const search = (what: string, max = 100) => Joi.string().trim().max(max).allow('').description(`Search text: ${what}. Case-insensitive; empty lists everything.`);

/**
 * The response of an offset-paginated list of `item`: a concrete schema (named `<name>`), so that a typed
 * client sees the items' type.
 */
export function page(name: string, item: Joi.Schema, extra: Record<string, Joi.Schema> = {}, description = 'A page of the list.') {
  return component(
    name,
    record(
      {
        ...extra,
        items: Joi.array().items(item).description('The rows of this page.'),
        total: count('Rows matching the filters, over all pages.'),
        limit: Joi.number().integer().min(1).description('The page size used.'),
        offset: count('Rows skipped before this page.'),
        nextOffset: count('The offset of the next page; null when this is the last page.').allow(null),
      },
      `${description} Ask for the next page with \`offset=nextOffset\`; \`nextOffset\` is null on the last page.`,
    ),
  );
}

/** The body of a page of an offset-paginated list. */
export function offsetPage<T>(items: T[], total: number, q: Paging) {
  return { items, total, limit: q.limit, offset: q.offset, nextOffset: q.offset + items.length < total ? q.offset + items.length : null };
}

/** A row's time as the API shows it. */
export const iso = (ms: number) => new Date(ms).toISOString();
export const isoOrNull = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : null);
