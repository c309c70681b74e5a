import Koa from 'koa';
import mysql from 'mysql2/promise';
import { Eta } from 'eta';
import { mysqlConnectionFromUrl } from '../src/db/connect';
import { serve } from './support';

/**
 * The floor for the users list: the least a page listing users can do on this machine — Koa, one mysql2
 * pool, one Eta template, one query (a prefix of usernames on their index, LIMIT 50), no sessions, no
 * layout. `npm run bench:users` measures the console's list against it in the same run.
 */
const TEMPLATE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Users</title></head><body>
<table><thead><tr><th>Username</th><th>Name</th><th>Email</th></tr></thead><tbody>
<% for (const u of it.rows) { %><tr><td><a href="/users/<%= u.id %>"><%= u.username %></a></td><td><%= u.first_name %> <%= u.last_name %></td><td><%= u.email %></td></tr>
<% } %></tbody></table></body></html>`;

export async function startFloor(databaseUrl: string) {
  const c = mysqlConnectionFromUrl(databaseUrl);
  const pool = mysql.createPool({ host: c.host, port: c.port, user: c.user, password: c.password, database: c.database, charset: 'utf8mb4', connectionLimit: 10 });
  const eta = new Eta({ autoEscape: true, cache: true });
  const template = eta.compile(TEMPLATE);
  const app = new Koa();
  app.use(async (ctx) => {
    const q = typeof ctx.query.q === 'string' ? ctx.query.q.toLowerCase() : '';
    const [rows] = await pool.query('SELECT id, username, first_name, last_name, email FROM users WHERE username_lower LIKE ? ORDER BY username_lower LIMIT 50', [`${q.replace(/[\\%_]/g, (m) => `\\${m}`)}%`]);
    ctx.type = 'html';
    ctx.body = eta.render(template, { rows });
  });
  const server = await serve(app.callback());
  return {
    url: server.url,
    async close() {
      await server.close();
      await pool.end();
    },
  };
}
