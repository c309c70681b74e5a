/**
 * Rules that span many rows (the last active Superuser, the seats of a license, the one default role, the
 * shape of the workspace tree) cannot be protected by reading those rows: another transaction can change
 * them between the read and the write. Each such rule has a row of its own in `invariant_guards`, and a
 * transaction that could break the rule writes that row before it reads anything the rule depends on:
 *
 * - on one database, writers of the same rule queue on the row lock, and (with READ COMMITTED, set in
 *   src/db/connect.ts) each reads what the one before it committed;
 * - on a Galera cluster, two writers on different nodes both change the row, so certification lets only one
 *   commit and the other is retried as a whole by src/db/transaction.ts.
 */
import type { Tx } from './connect';

export type Guard = 'superusers' | 'default_role' | 'workspace_tree' | 'domain_catalog' | `license:${number}`;

export async function guard(trx: Tx, name: Guard): Promise<void> {
  const bump = () => trx('invariant_guards').where({ name }).increment('writes', 1);
  if ((await bump()) === 0) {
    // Guards of rows created later (a license type) are made on first use.
    await trx('invariant_guards').insert({ name, writes: 0 }).onConflict('name').ignore();
    await bump();
  }
}
