import type { Conn } from './connect';

export async function getSetting(db: Conn, key: string): Promise<string | undefined> {
  const row = await db('settings').where({ key }).first('value');
  return row?.value;
}

/** Inserts the value unless the key exists; returns whatever is stored afterwards (first writer wins). */
export async function getOrCreateSetting(db: Conn, key: string, make: () => string): Promise<string> {
  const existing = await getSetting(db, key);
  if (existing !== undefined) return existing;
  try {
    await db('settings').insert({ key, value: make() });
  } catch {
    // Another server inserted it first; read theirs.
  }
  return (await getSetting(db, key))!;
}

/**
 * Bumps a counter stored in the database. Caches on every server compare it on each request, so a change
 * made through one server is seen by the others on their next request.
 */
export async function bumpCounter(db: Conn, key: string): Promise<void> {
  const updated = await db('settings')
    .where({ key })
    .update({ value: db.raw(`CAST(CAST(value AS ${db.client.config.client === 'mysql2' ? 'UNSIGNED' : 'INTEGER'}) + 1 AS CHAR)`) });
  if (!updated) await db('settings').insert({ key, value: '1' });
}

export async function readCounter(db: Conn, key: string): Promise<number> {
  return Number((await getSetting(db, key)) ?? 0);
}
