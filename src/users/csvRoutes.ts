import type Koa from 'koa';
import { can, get, post } from '../http/routing';
import { P } from '../permissions/catalog';
import { page, redirectTo } from '../http/render';
import { flash } from '../http/session';
import { actorOf } from '../http/auth';
import { HttpError, ValidationError, notFound } from '../http/errors';
import { csvDate, sendCsv } from '../http/csv';
import * as repo from './repo';
import * as groupRepo from '../groups/repo';
import * as importRepo from './importRepo';
import * as csvImport from './csvImport';
import { readListFilters } from './listFilters';

const manage = can(P.usersManage);
const ROWS_PER_PAGE = 100;
const stamp = () => new Date().toISOString().slice(0, 10);

/** The export's columns: the import's, then what describes the account (an import reads past those). */
export const EXPORT_COLUMNS = [...csvImport.IMPORT_COLUMNS, 'status', 'source', 'created_at', 'last_sign_in_at'];

/** Every user the list's filters match (all pages), streamed in username order. */
async function exportUsers(ctx: Koa.Context) {
  const { db } = ctx.services;
  const { filter, filterError } = await readListFilters(db, ctx.query as Record<string, unknown>);
  if (!filter) throw new HttpError(422, 'invalid', filterError ?? 'The filters match nobody.');
  const now = Date.now();
  sendCsv(
    ctx,
    `users-${stamp()}.csv`,
    EXPORT_COLUMNS,
    (async function* () {
      for await (const rows of repo.eachMatching(db, filter, now)) {
        const groups = await groupRepo.groupNamesByMember(db, rows.map((r) => r.id));
        yield rows.map((u) => [
          u.username,
          u.firstName,
          u.lastName,
          u.email,
          u.roleName,
          u.licenseName,
          (groups.get(u.id) ?? []).join(csvImport.GROUP_SEPARATOR),
          u.status === 'active' && u.locked ? 'locked' : u.status,
          u.source,
          csvDate(u.createdAt),
          csvDate(u.lastLoginAt),
        ]);
      }
    })(),
  );
}

function template(ctx: Koa.Context) {
  sendCsv(ctx, 'users-template.csv', csvImport.TEMPLATE_ROWS[0], [csvImport.TEMPLATE_ROWS.slice(1)]);
}

function importForm(ctx: Koa.Context, errors: Record<string, string> = {}, status = 200) {
  page(ctx, 'users/import', { title: 'Import users', errors, maxRows: csvImport.IMPORT_MAX_ROWS, columns: csvImport.IMPORT_COLUMNS, separator: csvImport.GROUP_SEPARATOR }, status);
}

async function upload(ctx: Koa.Context) {
  const file = ctx.state.upload;
  if (!file || file.field !== 'file' || !file.filename) return importForm(ctx, { file: 'Choose a CSV file to upload.' }, 422);
  const body = (ctx.request.body ?? {}) as Record<string, unknown>;
  try {
    const id = await csvImport.checkFile(ctx.services.db, actorOf(ctx), file, { withGroups: body.withGroups === '1' });
    redirectTo(ctx, `/users/import/${id}`);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    importForm(ctx, e.fields, 422);
  }
}

async function report(ctx: Koa.Context) {
  const id = (ctx as unknown as { params: Record<string, string> }).params.import;
  const header = await csvImport.findImport(ctx.services.db, actorOf(ctx), id);
  if (!header) throw notFound('Import');
  const onlyProblems = ctx.query.show === 'problems';
  const pageNo = Math.max(1, Math.min(100_000, Number(ctx.query.page) || 1));
  const { rows, total } = await importRepo.rows(ctx.services.db, id, { onlyProblems, limit: ROWS_PER_PAGE, offset: (pageNo - 1) * ROWS_PER_PAGE });
  page(ctx, 'users/import-report', {
    title: header.state === 'imported' ? 'Import done' : 'Check the import',
    header,
    rows,
    total,
    onlyProblems,
    page: pageNo,
    pages: Math.max(1, Math.ceil(total / ROWS_PER_PAGE)),
    problems: header.totalRows - header.validRows,
  });
}

async function confirm(ctx: Koa.Context) {
  const id = (ctx as unknown as { params: Record<string, string> }).params.import;
  try {
    const result = await csvImport.confirmImport(ctx.services.db, actorOf(ctx), id);
    const n = result.created;
    flash(ctx, n ? 'success' : 'error', n ? `${n.toLocaleString('en-US')} user${n === 1 ? '' : 's'} imported.` : 'Nobody was imported.');
  } catch (e) {
    if (!(e instanceof HttpError) || e.status >= 500) throw e;
    flash(ctx, 'error', e instanceof ValidationError ? Object.values(e.fields).join(' ') || e.message : e.message);
  }
  redirectTo(ctx, `/users/import/${id}`);
}

export const csvRoutes = [
  get('/users/export.csv', manage, exportUsers),
  get('/users/import', manage, (ctx) => importForm(ctx)),
  get('/users/import/template.csv', manage, template),
  post('/users/import', manage, upload),
  get('/users/import/:import', manage, report),
  post('/users/import/:import', manage, confirm),
];
