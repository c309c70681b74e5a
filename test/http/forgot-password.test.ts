import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { $, createTestApp, PASSWORD, type TestApp } from '../support/app';
import { closeMailers } from '../../src/auth/mailer';

/** A real SMTP server on a free local port, keeping what it receives. */
interface Received {
  to: string[];
  body: string;
}
let smtp: SMTPServer;
const inbox: Received[] = [];
let t: TestApp;

beforeAll(async () => {
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData(stream, session, callback) {
      let body = '';
      stream.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      stream.on('end', () => {
        inbox.push({ to: session.envelope.rcptTo.map((r) => r.address), body });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
  const port = (smtp.server.address() as AddressInfo).port;
  t = await createTestApp({ smtpUrl: `smtp://127.0.0.1:${port}`, baseUrl: 'http://gatehouse.test' });
  await t.makeUser({ username: 'ana', role: 'analyst', email: 'ana@example.com' });
});
afterAll(async () => {
  closeMailers();
  await t?.close();
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
});

/** Waits until a mail to this address arrives (the page answers before the mail leaves). */
async function mailTo(address: string, count: number): Promise<Received> {
  for (let i = 0; i < 200; i++) {
    const mails = inbox.filter((m) => m.to.includes(address));
    if (mails.length >= count) return mails[count - 1];
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`No mail number ${count} to ${address}`);
}

const linkIn = (mail: Received) => {
  const unfolded = mail.body.replace(/=\r?\n/g, '');
  const m = /http:\/\/gatehouse\.test(\/password\/reset\/[A-Za-z0-9_-]{43})/.exec(unfolded);
  if (!m) throw new Error(`No link in ${mail.body}`);
  return m[1];
};

describe('forgot password', () => {
  it('offers the link on the sign-in page only when mail is configured', async () => {
    const anon = await t.anonymous();
    expect($((await anon.get('/login')).text)('a[href="/password/forgot"]').length).toBe(1);
    const without = await createTestApp();
    try {
      const other = await without.anonymous();
      expect($((await other.get('/login')).text)('a[href="/password/forgot"]').length).toBe(0);
      expect((await other.get('/password/forgot')).status).toBe(404);
    } finally {
      await without.close();
    }
  });

  it('answers the same whether or not the account exists, and mails a single-use link that changes the password', async () => {
    const anon = await t.anonymous();
    const unknown = await anon.post('/password/forgot').type('form').send({ _csrf: anon.csrf, login: 'nobody@example.com' });
    const known = await anon.post('/password/forgot').type('form').send({ _csrf: anon.csrf, login: 'ana@example.com' });
    expect(unknown.status).toBe(200);
    expect(known.status).toBe(200);
    const text = (html: string) => $(html)('main').text().replace(/\s+/g, ' ');
    expect(text(unknown.text)).toBe(text(known.text));

    const mail = await mailTo('ana@example.com', 1);
    const link = linkIn(mail);
    const signedIn = await t.signIn('ana');
    const form = await anon.get(link);
    expect(form.status).toBe(200);
    const short = await anon.post(link).type('form').send({ _csrf: anon.csrf, newPassword: 'short', confirmPassword: 'short' });
    expect(short.status).toBe(422);
    expect($(short.text)('#e-newPassword').text()).toContain('at least');
    const done = await anon.post(link).type('form').send({ _csrf: anon.csrf, newPassword: 'a-brand-new-password', confirmPassword: 'a-brand-new-password' });
    expect(done.status).toBe(200);
    expect($(done.text)('.flash-success').text()).toContain('Your password is changed');
    // Single use, and every session of the account ended.
    expect((await anon.get(link)).status).toBe(410);
    expect((await signedIn.get('/account')).status).toBe(303);
    await expect(t.signIn('ana', PASSWORD)).rejects.toThrow();
    expect(await t.signIn('ana', 'a-brand-new-password')).toBeTruthy();
    const actions = (await t.db('audit_events').where({ object_label: 'ana' }).whereIn('action', ['auth.password_reset_requested', 'auth.password_reset']).orderBy('id')).map((e: { action: string }) => e.action);
    expect(actions).toEqual(['auth.password_reset_requested', 'auth.password_reset']);
  });

  it('refuses an expired link', async () => {
    await t.makeUser({ username: 'late', role: 'analyst', email: 'late@example.com' });
    const anon = await t.anonymous();
    await anon.post('/password/forgot').type('form').send({ _csrf: anon.csrf, login: 'late' });
    const link = linkIn(await mailTo('late@example.com', 1));
    await t.db('password_resets').update({ expires_at: Date.now() - 1 });
    expect((await anon.get(link)).status).toBe(410);
    const post = await anon.post(link).type('form').send({ _csrf: anon.csrf, newPassword: 'a-brand-new-password', confirmPassword: 'a-brand-new-password' });
    expect(post.status).toBe(410);
    expect(await t.signIn('late')).toBeTruthy();
  });
});
