/**
 * The OpenID AuthZEN Authorization API 1.0 at /access/v1 (evaluation, evaluations, the three searches) and
 * its metadata at /.well-known/authzen-configuration — one definition per operation (src/api/operation.ts).
 * The surface follows the standard's input rules (`input: 'lenient'`): unknown fields are ignored, and every
 * input problem is a 400. The mapping onto Gatehouse's decision: src/authzen/mapping.ts.
 */
import type Koa from 'koa';
import Joi from 'joi';
import { PUBLIC, can } from '../http/routing';
import { P } from '../permissions/catalog';
import { BEARER_TOKEN_AUTH } from '../api/auth';
import { operation, type ApiSurface } from '../api/operation';
import { component, count, flag, list, record, text } from '../api/schemas';
import { MAX_BATCH } from '../access/api';
import { isCanonicalEvaluation, isCanonicalEvaluations } from './canonical';
import { ACTION_NAMES } from './mapping';
import * as service from './service';
import type { Db } from '../db/connect';
import type { AppServices } from '../http/types';

/** AuthZEN's evaluation and search endpoints: the same tokens and permission as POST /api/v1/check. */
export const AUTHZEN_SURFACE: ApiSurface = {
  prefix: '/access/v1',
  ...BEARER_TOKEN_AUTH,
  input: 'lenient',
};

/** The PDP metadata: public, at the well-known address of the server's base URL. */
export const WELL_KNOWN_SURFACE: ApiSurface = { ...AUTHZEN_SURFACE, prefix: '/.well-known', input: 'strict' };

const TAG = 'AuthZEN';
const decide = can(P.accessManage);

// ------------------------------------------------------------------------------------------------ schemas

const properties = (what: string) => Joi.object().unknown(true).description(`Properties of the ${what}: accepted and ignored, except \`level\` on a resource.`);

const SubjectSchema = component(
  'AuthzenSubject',
  Joi.object<service.Entity>({
    type: Joi.string().required().description('"user": other types name nobody.'),
    id: Joi.string().required().description('The username (case-insensitive).'),
    properties: properties('subject'),
  })
    .unknown(true)
    .description('Who asks: {type: "user", id: <username>}.'),
);
const ActionSchema = component(
  'AuthzenAction',
  Joi.object<service.Action>({
    name: Joi.string().required().description(`One of ${ACTION_NAMES.join(', ')} (write is another name for modify); ignoring case.`),
    properties: properties('action'),
  })
    .unknown(true)
    .description('What the subject wants to do: read, modify (or write), create or delete.'),
);
const ResourceSchema = component(
  'AuthzenResource',
  Joi.object<service.Entity>({
    type: Joi.string().required().description('A domain: its key or name, ignoring case (e.g. "processes", or "record" for a domain a Superuser added).'),
    id: Joi.string().required().description('A workspace: its external key (exact), else its path ("/Root/Sales"), else its id.'),
    properties: Joi.object({ level: Joi.alternatives(Joi.number().integer().min(0).max(9), Joi.string()).description('Element level 0–9 in a domain with levels (default 0).') })
      .unknown(true)
      .description('`level`: the element level in a domain with levels; other properties are ignored.'),
  })
    .unknown(true)
    .description('Where: {type: <domain>, id: <workspace>, properties: {level}}.'),
);
const contextField = Joi.object()
  .unknown(true)
  .description('Ignored by the decision, except `consistency_token`: a position a write returned; the answer reflects at least that write (waiting at most 2 s, else 503 with Retry-After).');

const consistencyHeader = {
  'Gatehouse-Consistency-Token': Joi.string()
    .pattern(/^\d{1,15}$/)
    .description('A position a write returned: the answer reflects at least that write (as `context.consistency_token`).'),
};

const ReasonUser = record({ en: text('One short sentence for the user.') }, 'Why, for the user.');
const DecisionContextSchema = component(
  'AuthzenDecisionContext',
  Joi.object({
    reason_user: ReasonUser.required(),
    reason_admin: Joi.object({
      en: text('The whole explanation in one sentence.').required(),
      reason: text('account, rule, default, license; unknown when the request could not be decided.').valid('account', 'rule', 'default', 'license', 'unknown').required(),
      rung: text('The precedence class of the deciding permission.').valid('High Deny', 'High Allow', 'Low Deny', 'Low Allow').allow(null).required(),
      permission: Joi.object().unknown(true).allow(null).required().description('The deciding domain permission (as GET /api/v1/permissions/{id} names it).'),
      group: text('Group of the deciding permission.').allow(null).required(),
      workspace: text('Workspace path of the deciding permission.').allow(null).required(),
      other_matches: list(Joi.object().unknown(true), 'Every other matching permission, by precedence.').required(),
    })
      .unknown(true)
      .required()
      .description('Why, for an administrator.'),
    error: Joi.object({ status: Joi.number().integer().valid(400, 404).required(), message: text().required() }).optional().description('Why the question could not be decided (then the decision is false).'),
  })
    .unknown(true)
    .description('The explanation of a decision (src/authzen/mapping.ts).'),
);
const DecisionSchema = component('AuthzenDecision', record({ decision: flag('true: permit; false: deny.'), context: DecisionContextSchema }, 'An AuthZEN decision with its explanation.'));
const StopContextSchema = component(
  'AuthzenStopContext',
  record({ code: text('"200"').valid('200'), reason: text().valid('deny_on_first_deny') }, 'The context of the deny that stopped a `deny_on_first_deny` batch whose explanations were not asked for.'),
);
const BatchDecisionSchema = component(
  'AuthzenBatchDecision',
  record(
    {
      decision: flag('true: permit; false: deny.'),
      context: Joi.alternatives(DecisionContextSchema, StopContextSchema)
        .optional()
        .description('The explanation when `options.explain` is true; else only for an item that could not be decided (`error`) or that stopped the batch.'),
    },
    'An AuthZEN decision in a batch.',
  ),
);

const pageRequest = Joi.object<service.PageRequest>({
  token: Joi.string().max(1000).allow('').description('The `next_token` of the previous page.'),
  limit: Joi.number().integer().min(0).max(1_000_000).description(`Results per page (default ${service.DEFAULT_PAGE}, at most ${service.MAX_PAGE}; 0: the default).`),
})
  .unknown(true)
  .description('Paging: results come in pages; `next_token` is empty on the last one.');

const pageResponse = record(
  {
    next_token: text('Send it back as `page.token` for the next page; empty on the last page.'),
    count: count('Results in this page.'),
    total: count('Results over all pages.'),
  },
  'Where this page is: never a silent cut — more results always come with a `next_token`.',
);
const searchResult = (name: string, item: Joi.ObjectSchema) => component(name, record({ page: pageResponse, results: list(item) }));

// ------------------------------------------------------------------------------------------------ operations

/**
 * An operation's answer from state at least as fresh as the request's consistency token (`context` or the
 * header), the same for every AuthZEN operation.
 */
function whenFresh<B extends { context?: Record<string, unknown> }>(answer: (db: Db, body: B) => unknown) {
  return async ({ db }: AppServices, { body, headers }: { body: B; headers: Record<string, unknown> }) => {
    await service.awaitFreshness(db, service.consistencyToken(body.context, headers['Gatehouse-Consistency-Token'] as string | undefined));
    return answer(db, body);
  };
}

const evaluation = operation({
  operationId: 'authzenEvaluation',
  method: 'POST',
  path: '/evaluation',
  tag: TAG,
  summary: 'Access evaluation',
  description:
    'May this subject perform this action on this resource? The same decision as POST /api/v1/check, with its explanation in `context.reason_admin` and a short one in `context.reason_user`. A user, domain, workspace or action Gatehouse does not know is a `false` decision with `context.error`.',
  requires: decide,
  // Answered from the decision state: the consistency token is the position it answered at (no query).
  consistency: 'decisions',
  headers: consistencyHeader,
  body: Joi.object<service.Evaluation>({ subject: SubjectSchema.required(), action: ActionSchema.required(), resource: ResourceSchema.required(), context: contextField }).unknown(true),
  canonicalBody: isCanonicalEvaluation,
  example: { subject: { type: 'user', id: 'jane.doe' }, action: { name: 'read' }, resource: { type: 'processes', id: '/Root/Sales', properties: { level: 2 } } },
  responses: { 200: { description: 'The decision.', schema: DecisionSchema } },
  decide: whenFresh((db, body: service.Evaluation) => service.evaluate(db, body)),
});

interface EvaluationsBody {
  subject?: service.Entity;
  action?: service.Action;
  resource?: service.Entity;
  context?: Record<string, unknown>;
  options?: { evaluations_semantic?: service.Semantic; explain?: boolean };
  evaluations?: Array<Partial<service.Evaluation>>;
}

/** An item with the top-level defaults: its own entities replace them whole. */
function withDefaults(body: EvaluationsBody, item: Partial<service.Evaluation>): service.Evaluation | { missing: string } {
  const merged = {
    subject: item.subject ?? body.subject,
    action: item.action ?? body.action,
    resource: item.resource ?? body.resource,
    context: item.context ?? body.context,
  };
  const missing = (['subject', 'action', 'resource'] as const).filter((k) => !merged[k]);
  if (missing.length) return { missing: `The evaluation has no ${missing.join(', ')}, and the request gives no default for ${missing.length === 1 ? 'it' : 'them'}.` };
  return merged as service.Evaluation;
}

const evaluations = operation({
  operationId: 'authzenEvaluations',
  method: 'POST',
  path: '/evaluations',
  tag: TAG,
  summary: 'Access evaluations (batch)',
  description: `Up to ${MAX_BATCH} evaluations in one request, answered in order. The top-level \`subject\`, \`action\`, \`resource\` and \`context\` are defaults: an item's own entity replaces the default whole. \`options.evaluations_semantic\`: \`execute_all\` (default) answers every item; \`deny_on_first_deny\` stops after the first false; \`permit_on_first_permit\` after the first true. Each answer is \`{decision}\` alone unless \`options.explain\` is true (Gatehouse's option; the spec makes \`context\` optional): then each carries \`context.reason_user\` and \`context.reason_admin\` as POST /access/v1/evaluation does — the explanations cost several times the decisions, so a PEP that only enforces need not pay for them. An item left without an entity (or naming what does not exist) answers false with \`context.error\` either way; the deny that stops \`deny_on_first_deny\` has \`context.reason\`. Without \`evaluations\` (or with an empty list) the request is a single evaluation and answers like POST /access/v1/evaluation.`,
  requires: decide,
  consistency: 'decisions',
  headers: consistencyHeader,
  body: Joi.object<EvaluationsBody>({
    subject: SubjectSchema,
    action: ActionSchema,
    resource: ResourceSchema,
    context: contextField,
    options: Joi.object({
      evaluations_semantic: Joi.string().valid('execute_all', 'deny_on_first_deny', 'permit_on_first_permit').description('How the batch is evaluated (default execute_all).'),
      explain: Joi.boolean().description('true: every decision carries its `context` (reason_user, reason_admin) as a single evaluation does. Default false: `{decision}` alone.'),
    })
      .unknown(true)
      .description('How to evaluate.'),
    evaluations: Joi.array()
      .items(Joi.object({ subject: SubjectSchema, action: ActionSchema, resource: ResourceSchema, context: contextField }).unknown(true))
      .max(MAX_BATCH)
      .description('The questions; each takes the top-level entities it does not give.'),
  }).unknown(true),
  canonicalBody: isCanonicalEvaluations,
  example: {
    subject: { type: 'user', id: 'jane.doe' },
    action: { name: 'read' },
    options: { evaluations_semantic: 'execute_all' },
    evaluations: [{ resource: { type: 'processes', id: '/Root/Sales' } }, { resource: { type: 'files', id: 'record-1' }, action: { name: 'delete' } }],
  },
  responses: {
    200: {
      description: 'The decisions in order (fewer when a short-circuiting semantic stopped); a single decision without `evaluations`.',
      schema: Joi.alternatives(
        component('AuthzenEvaluations', record({ evaluations: list(BatchDecisionSchema, 'One decision per evaluation, in order.') })),
        DecisionSchema,
      ),
    },
  },
  decide: whenFresh(async (db, body: EvaluationsBody) => {
    if (!body.evaluations?.length) {
      const single = withDefaults(body, {});
      if ('missing' in single) service.missingEntity(single.missing);
      return service.evaluate(db, single as service.Evaluation);
    }
    const answers = await service.evaluateMany(db, body.evaluations.map((item) => withDefaults(body, item)), body.options?.evaluations_semantic ?? 'execute_all', Date.now(), body.options?.explain === true);
    return { evaluations: answers };
  }),
});

const SubjectResult = record({ type: text('"user"'), id: text('Username.') });
const ResourceResult = record({ type: text('The type asked for.'), id: text('The workspace: its external key, else its path.') });
const ActionResult = record({ name: text('An action name.') });
const subjectQuery = Joi.object({ type: Joi.string().required().description('"user".'), id: Joi.string().description('Ignored.'), properties: properties('subject') }).unknown(true);
const resourceQuery = Joi.object({
  type: Joi.string().required().description('The domain (key or name).'),
  id: Joi.string().description('Ignored.'),
  properties: Joi.object().unknown(true).description('`level` as in an evaluation.'),
}).unknown(true);

const searchSubject = operation({
  operationId: 'authzenSearchSubject',
  method: 'POST',
  path: '/search/subject',
  tag: TAG,
  summary: 'Subject search: who may',
  description:
    'Every user the evaluation of this action on this resource would allow, by username, in pages. `subject.type` must be "user" (`subject.id` is ignored); an unknown type, action, domain or workspace finds nobody.',
  requires: decide,
  consistency: 'decisions',
  headers: consistencyHeader,
  body: Joi.object<service.SubjectSearch>({ subject: subjectQuery.required(), action: ActionSchema.required(), resource: ResourceSchema.required(), context: contextField, page: pageRequest }).unknown(true),
  example: { subject: { type: 'user' }, action: { name: 'modify' }, resource: { type: 'processes', id: '/Root/Sales' }, page: { limit: 50 } },
  responses: { 200: { description: 'A page of users.', schema: searchResult('AuthzenSubjectSearch', SubjectResult) } },
  decide: whenFresh((db, body: service.SubjectSearch) => service.searchSubjects(db, body)),
});

const searchResource = operation({
  operationId: 'authzenSearchResource',
  method: 'POST',
  path: '/search/resource',
  tag: TAG,
  summary: 'Resource search: in which workspaces',
  description:
    'Every workspace where the evaluation of this subject and action in the domain `resource.type` would allow, in workspace id order, in pages (`resource.id` is ignored). Each is named by its external key, else its path.',
  requires: decide,
  consistency: 'decisions',
  headers: consistencyHeader,
  body: Joi.object<service.ResourceSearch>({ subject: SubjectSchema.required(), action: ActionSchema.required(), resource: resourceQuery.required(), context: contextField, page: pageRequest }).unknown(true),
  example: { subject: { type: 'user', id: 'jane.doe' }, action: { name: 'read' }, resource: { type: 'files' } },
  responses: { 200: { description: 'A page of workspaces.', schema: searchResult('AuthzenResourceSearch', ResourceResult) } },
  decide: whenFresh((db, body: service.ResourceSearch) => service.searchResources(db, body)),
});

const searchAction = operation({
  operationId: 'authzenSearchAction',
  method: 'POST',
  path: '/search/action',
  tag: TAG,
  summary: 'Action search: which operations',
  description: 'Every action the evaluation of this subject on this resource would allow: each allowed operation under every name it answers to (Modify: "modify" and "write").',
  requires: decide,
  consistency: 'decisions',
  headers: consistencyHeader,
  body: Joi.object<service.ActionSearch>({ subject: SubjectSchema.required(), resource: ResourceSchema.required(), context: contextField, page: pageRequest }).unknown(true),
  example: { subject: { type: 'user', id: 'jane.doe' }, resource: { type: 'processes', id: '/Root/Sales' } },
  responses: { 200: { description: 'A page of action names.', schema: searchResult('AuthzenActionSearch', ActionResult) } },
  decide: whenFresh((db, body: service.ActionSearch) => service.searchActions(db, body)),
});

// ------------------------------------------------------------------------------------------------ metadata

function base(ctx: Koa.Context): string {
  return ctx.services.config.baseUrl.replace(/\/+$/, '');
}

const configuration = operation({
  operationId: 'authzenConfiguration',
  method: 'GET',
  path: '/authzen-configuration',
  tag: TAG,
  summary: 'AuthZEN PDP metadata',
  description: "Where this server's AuthZEN endpoints are (the server's base URL is the Policy Decision Point identifier). Needs no token.",
  requires: PUBLIC,
  responses: {
    200: {
      description: 'The metadata.',
      schema: component(
        'AuthzenConfiguration',
        record({
          policy_decision_point: text('The base URL of this server.'),
          access_evaluation_endpoint: text(),
          access_evaluations_endpoint: text(),
          search_subject_endpoint: text(),
          search_resource_endpoint: text(),
          search_action_endpoint: text(),
        }),
      ),
    },
  },
  handler(ctx) {
    const pdp = base(ctx);
    const at = (path: string) => `${pdp}${AUTHZEN_SURFACE.prefix}${path}`;
    return {
      policy_decision_point: pdp,
      access_evaluation_endpoint: at(evaluation.path),
      access_evaluations_endpoint: at(evaluations.path),
      search_subject_endpoint: at(searchSubject.path),
      search_resource_endpoint: at(searchResource.path),
      search_action_endpoint: at(searchAction.path),
    };
  },
});

export const operations = [evaluation, evaluations, searchSubject, searchResource, searchAction];
export const wellKnownOperations = [configuration];
