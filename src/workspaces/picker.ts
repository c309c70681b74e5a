import type { Conn } from '../db/connect';
import * as repo from './repo';
import { resolveRef, type WorkspaceRef } from './service';

/**
 * The workspace picker shared by the workspace page (move), the permission form and the access explorer
 * (views/workspaces/_picker.eta). It submits the text shown in `<name>` and, once a suggestion is chosen,
 * its id in `<name>Id`; the server trusts the id only while the text still names it.
 */
export function pickerRef(body: Record<string, unknown>, name: string): WorkspaceRef {
  const text = typeof body[name] === 'string' ? (body[name] as string) : '';
  const rawId = typeof body[`${name}Id`] === 'string' ? (body[`${name}Id`] as string) : '';
  const id = /^[1-9][0-9]{0,9}$/.test(rawId) && Number(rawId) <= 2147483647 ? Number(rawId) : undefined;
  return { id, text };
}

export interface Suggestion {
  id: number;
  name: string;
  path: string;
}

async function withPaths(db: Conn, list: Array<{ id: number; name: string }>): Promise<Suggestion[]> {
  const paths = await repo.pathsOf(db, list.map((w) => w.id));
  return list.filter((w) => paths.has(w.id)).map((w) => ({ id: w.id, name: w.name, path: paths.get(w.id)! }));
}

/**
 * Type-ahead over the tree: by name (prefix first, then anywhere in the name), or by path — text with a
 * slash completes the last segment below the workspace the rest names (`/Root/Sa` → `/Root/Sales`).
 */
export async function suggestions(db: Conn, text: string, limit: number): Promise<Suggestion[]> {
  const q = text.trim();
  const root = await repo.findRoot(db);
  if (!q) {
    const kids = await repo.childrenPage(db, root.id, limit - 1, 0);
    return withPaths(db, [root, ...kids]);
  }
  if (q.includes('/')) {
    const cut = q.lastIndexOf('/');
    const head = q.slice(0, cut);
    const tail = q.slice(cut + 1).trim();
    if (!head.replace(/\//g, '').trim()) {
      // "/" or "/Ro": the root itself, then its children.
      const kids = await repo.searchByName(db, tail, limit, root.id);
      const list = root.name.toLowerCase().startsWith(tail.toLowerCase()) ? [root, ...kids] : kids;
      return withPaths(db, list.slice(0, limit));
    }
    const parent = await resolveRef(db, { text: head });
    if (parent.ok) return withPaths(db, await repo.searchByName(db, tail, limit, parent.workspace.id));
    // The head names nothing exactly: match the last segment anywhere and keep paths containing the text.
    const candidates = await withPaths(db, await repo.searchByName(db, tail, 200));
    const needle = q.toLowerCase();
    return candidates.filter((c) => c.path.toLowerCase().includes(needle)).slice(0, limit);
  }
  return withPaths(db, await repo.searchByName(db, q, limit));
}
