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
