import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { loadConfig } from '../../src/config';
import { createDb } from '../../src/db/connect';
import { prepareDatabase } from '../../src/setup/bootstrap';
import { serverConnection } from './db';

/**
 * Once per run on MariaDB (DATABASE_URL=mysql://…): migrate and seed a template database that every test
 * file then copies (test/support/db.ts), instead of each file migrating its own. Dropped at the end.
 */
export default async function setup(project: TestProject) {
  const url = process.env.DATABASE_URL;
  if (!url) return undefined;
  const name = `gh_template_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const admin = serverConnection(url);
  try {
    await admin.raw('CREATE DATABASE ?? CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci', [name]);
  } finally {
    await admin.destroy();
  }
  const u = new URL(url);
  u.pathname = `/${name}`;
  const db = createDb({ ...loadConfig({ NODE_ENV: 'test' }), databaseUrl: u.toString() });
  try {
    await prepareDatabase(db);
  } finally {
    await db.destroy();
  }
  project.provide('mysqlTemplate', name);
  return async () => {
    const dropper = serverConnection(url);
    try {
      await dropper.raw('DROP DATABASE IF EXISTS ??', [name]);
    } finally {
      await dropper.destroy();
    }
  };
}
