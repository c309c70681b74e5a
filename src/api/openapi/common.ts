import { arrayOf, int, nullable, obj, str, type Parameter, type Schema } from './schema';

/** Components every part of the API uses. */
export const commonSchemas: Record<string, Schema> = {
  Error: obj(
    {
      error: obj({
        code: str('Stable machine-readable code, e.g. "validation_failed", "not_found", "conflict", "forbidden".', { examples: ['validation_failed'] }),
        message: str('What went wrong, in a sentence a person can act on.'),
        details: nullable({
          type: 'object',
          description:
            'Null, or more about the error. `fields` maps each refused field (its name as sent, dotted for nested ones) to a message; a workspace that cannot be deleted reports what it still holds.',
          properties: {
            fields: {
              type: 'object',
              description: 'Field name → message. An unknown field is reported as "<name> is not a known field."',
              additionalProperties: str(),
            },
            info: { description: 'Additional information about a field error.' },
            children: int('Sub-workspaces the workspace still holds.', { minimum: 0 }),
            assets: int('Assets the workspace still holds.', { minimum: 0 }),
          },
          additionalProperties: false,
        }),
      }),
    },
    { description: 'Every error answers with this body. Nothing is written when an error is returned.' },
  ),
  OffsetPage: {
    type: 'object',
    description:
      'The paging fields of every offset-paginated list. Ask for the next page with `offset=nextOffset`; `nextOffset` is null on the last page.',
    required: ['total', 'limit', 'offset', 'nextOffset'],
    properties: {
      items: arrayOf({}, 'The rows of this page.'),
      total: int('Rows matching the filters, over all pages.', { minimum: 0 }),
      limit: int('The page size used.', { minimum: 1 }),
      offset: int('Rows skipped before this page.', { minimum: 0 }),
      nextOffset: nullable(int('The offset of the next page; null when this is the last page.', { minimum: 0 })),
    },
  },
};

/** `limit` and `offset` query parameters with the bounds every list enforces. */
export function paging(defaultLimit: number): Record<string, Parameter> {
  return {
    limit: { description: `Page size (default ${defaultLimit}).`, schema: { type: 'integer', minimum: 1, maximum: 500, default: defaultLimit } },
    offset: { description: 'Rows to skip: the `nextOffset` of the previous page.', schema: { type: 'integer', minimum: 0, maximum: 10_000_000, default: 0 } },
  };
}

export const search = (what: string, max = 100): Parameter => ({
  description: `Search text: ${what}. Case-insensitive; empty lists everything.`,
  schema: { type: 'string', maxLength: max },
});

export const usernameParam: Parameter = {
  description: 'The username (case-insensitive).',
  schema: { type: 'string', minLength: 1, maxLength: 64 },
  example: 'jane.doe',
};

export const idPath = (what: string): Parameter => ({
  description: `The ${what}'s numeric id.`,
  schema: { type: 'integer', minimum: 1, maximum: 2147483647 },
  example: 12,
});

export const groupNameParam: Parameter = {
  description: 'The group name (case-insensitive; URL-encode spaces and other reserved characters).',
  schema: { type: 'string', minLength: 1, maxLength: 100 },
  example: 'Sales Analysts',
};
