import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { $, createTestApp, eachTestStartsFromSetUp, type Agent, type TestApp } from '../support/app';

let t: TestApp;
let admin: Agent;

function csvOf(text: string): string[][] {
  return parse(text, { bom: true });
}

async function upload(agent: Agent, content: string | Buffer, options: { withGroups?: boolean; filename?: string } = {}) {
  const req = agent.post('/users/import').field('_csrf', agent.csrf);
  if (options.withGroups !== false) req.field('withGroups', '1');
  return req.attach('file', Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8'), { filename: options.filename ?? 'people.csv', contentType: 'text/csv' });
}


beforeAll(async () => {
  t = await createTestApp();
  await t.makeUser({ username: 'admin', role: 'superuser' });
  admin = await t.signIn('admin');
});
afterAll(async () => t?.close());
eachTestStartsFromSetUp(() => t);

describe('CSV export', () => {
  it('streams every user the filters match (all pages), with their groups, and neutralises formulas', async () => {
    for (let i = 0; i < 120; i++) await t.makeUser({ username: `exp${String(i).padStart(3, '0')}`, lastName: 'Exporter' });
    await t.makeUser({ username: 'formula', firstName: '=HYPERLINK("http://x")', lastName: '+Exporter', email: 'formula@example.com' });
    await t.make.makeGroup('Exporters', ['exp000']);
    const res = await admin.get('/users/export.csv?q=exp');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toContain('text/csv');
    expect(res.headers['content-disposition']).toContain('attachment');
    const rows = csvOf(res.text);
    expect(rows[0]).toEqual(['username', 'first_name', 'last_name', 'email', 'role', 'license', 'groups', 'status', 'source', 'created_at', 'last_sign_in_at']);
    expect(rows).toHaveLength(121);
    expect(rows[1].slice(0, 7)).toEqual(['exp000', 'exp000', 'Exporter', 'exp000@example.com', 'Analyst', 'Process modeler', 'Exporters']);
    const all = csvOf((await admin.get('/users/export.csv?q=formula')).text);
    expect(all[1][1]).toBe(`'=HYPERLINK("http://x")`);
  });

  it('exports a group’s members', async () => {
    await t.makeUser({ username: 'member.one' });
    const g = (await t.make.makeGroup('Small team', ['member.one'])).id;
    const res = await admin.get(`/groups/${g}/members.csv`);
    expect(res.status).toBe(200);
    const rows = csvOf(res.text);
    expect(rows[0].slice(0, 4)).toEqual(['username', 'first_name', 'last_name', 'email']);
    expect(rows.slice(1).map((r) => r[0])).toEqual(['member.one']);
  });

  it('writes the audit export with the shared writer (formulas neutralised)', async () => {
    const res = await admin.get('/audit/export?format=csv');
    expect(res.status).toBe(200);
    const rows = csvOf(res.text);
    expect(rows[0]).toEqual(['id', 'time', 'actor', 'action', 'object_type', 'object_id', 'object', 'before', 'after', 'ip']);
  });
});

describe('CSV import', () => {
  it('offers a template that imports as it is', async () => {
    const template = await admin.get('/users/import/template.csv');
    expect(csvOf(template.text)[0]).toEqual(['username', 'first_name', 'last_name', 'email', 'role', 'license', 'groups']);
  });

  it('dry-runs every row with line numbers and messages, writes nothing, then imports the good rows in one go', async () => {
    await t.make.makeGroup('Finance controlling');
    const before = Number((await t.db('users').count({ n: '*' }).first())!.n);
    const file = [
      'username,first_name,last_name,email,role,license,groups',
      'new.one,New,One,new.one@example.com,Viewer,,Finance controlling',
      'x,Bad,Name,not-an-email,,,',
      'admin,Taken,Name,taken@example.com,,,',
      'new.two,New,Two,new.two@example.com,Nonexistent,,',
      'new.one,Again,Dup,dup@example.com,,,',
      'new.three,New,Three,new.three@example.com,,,No such group',
      '"new.four","Quoted, Name",Four,new.four@example.com,,Process viewer,',
    ].join('\r\n');
    const res = await upload(admin, file);
    expect(res.status).toBe(303);
    expect(Number((await t.db('users').count({ n: '*' }).first())!.n)).toBe(before);
    const report = await admin.get(res.headers.location);
    const doc = $(report.text);
    expect(doc('.import-summary').text()).toMatch(/7 rows read\. 2 users will be created; 5 rows have problems/);
    const lines = doc('.import-rows tbody tr').map((_, tr) => doc(tr).find('td').first().text()).get();
    expect(lines).toEqual(['2', '3', '4', '5', '6', '7', '8']);
    const problems = doc('.import-rows tbody tr.row-problem').text();
    expect(problems).toContain('username: Username must be at least 2 characters.');
    expect(problems).toContain('email: Enter a valid email address.');
    expect(problems).toContain('A user named “admin” already exists.');
    expect(problems).toContain('There is no role “Nonexistent”.');
    expect(problems).toContain('is also on line 2');
    expect(problems).toContain('There is no group named “No such group”.');
    const confirm = await admin.post(res.headers.location).type('form').send({ _csrf: admin.csrf });
    expect(confirm.status).toBe(303);
    const done = await admin.get(res.headers.location);
    expect($(done.text)('.import-summary').text()).toContain('2 users imported, with 1 group membership');
    const one = await t.db('users').join('roles', 'roles.id', 'users.role_id').where('users.username_lower', 'new.one').first('roles.name', 'users.password_hash');
    expect(one).toEqual({ name: 'Viewer', password_hash: null });
    expect((await t.db('users').where('username_lower', 'new.four').first('first_name')).first_name).toBe('Quoted, Name');
    const events = await t.db('audit_events').where({ action: 'user.import' }).select('after_json');
    expect(JSON.parse(events[0].after_json).users).toEqual(['new.one', 'new.four']);
    // A second confirmation (another tab, a double click) imports nothing more.
    await admin.post(res.headers.location).type('form').send({ _csrf: admin.csrf });
    expect(await t.db('audit_events').where({ action: 'user.import' }).count({ n: '*' }).first()).toMatchObject({ n: 1 });
  });

  it('reads UTF-8 with a byte-order mark and semicolons, and reverses the export’s formula guard', async () => {
    const file = '\uFEFFusername;first_name;last_name;email\r\nzoë.müller;Zoë;Müller;zoe.mueller@example.com\r\nminus;\'-Minus;Person;minus@example.com\r\n';
    const res = await upload(admin, file);
    expect(res.status).toBe(303);
    await admin.post(res.headers.location).type('form').send({ _csrf: admin.csrf });
    expect((await t.db('users').where('username_lower', 'zoë.müller').first('first_name')).first_name).toBe('Zoë');
    expect((await t.db('users').where('username_lower', 'minus').first('first_name')).first_name).toBe('-Minus');
  });

  it('re-checks at import time and reports rows that changed since the dry run', async () => {
    const res = await upload(admin, 'username,first_name,last_name,email\nlate.one,Late,One,late.one@example.com\nlate.two,Late,Two,late.two@example.com\n');
    await t.makeUser({ username: 'late.two' });
    await admin.post(res.headers.location).type('form').send({ _csrf: admin.csrf });
    const done = $((await admin.get(res.headers.location)).text);
    expect(done('.import-summary').text()).toContain('1 user imported');
    expect(done('.import-summary').text()).toContain('A user named “late.two” was created meanwhile.');
  });

  it('refuses a file without the required columns, and an empty upload, beside the file field', async () => {
    const res = await upload(admin, 'name,mail\nx,y\n');
    expect(res.status).toBe(422);
    expect($(res.text)('#e-file').text()).toContain('“username”, “first_name”, “last_name”, “email” are missing');
    const none = await admin.post('/users/import').field('_csrf', admin.csrf);
    expect(none.status).toBe(422);
  });

  it('refuses an upload without the CSRF token', async () => {
    const res = await admin.post('/users/import').attach('file', Buffer.from('username\n'), { filename: 'a.csv' });
    expect(res.status).toBe(403);
  });

  it('round-trips: an exported file imports into another directory as it is', async () => {
    for (let i = 0; i < 10; i++) await t.makeUser({ username: `exp00${i}`, lastName: 'Exporter' });
    await t.make.makeGroup('Exporters', ['exp000']);
    const exported = (await admin.get('/users/export.csv?q=exp00')).text;
    const other = await createTestApp();
    try {
      await other.makeUser({ username: 'admin', role: 'superuser' });
      await other.make.makeGroup('Exporters');
      const otherAdmin = await other.signIn('admin');
      const res = await upload(otherAdmin, exported);
      const report = $((await otherAdmin.get(res.headers.location)).text);
      expect(report('.import-summary').text()).toMatch(/10 users will be created\./);
    } finally {
      await other.close();
    }
  });
});
