import { sql } from 'kysely';
import type { PageQuery } from '@volt/contracts';
import type { Database } from '@volt/event-store';
import type { SshKey } from '@volt/pods-contracts';

interface Row {
  key_id: string;
  name: string;
  public_key: string;
  fingerprint: string;
  created_at: Date;
}

const toSshKey = (r: Row): SshKey => ({
  id: r.key_id,
  name: r.name,
  public_key: r.public_key,
  fingerprint: r.fingerprint,
  created_at: r.created_at.toISOString(),
});

/** An organization's SSH keys, oldest first. */
export async function listSshKeys(db: Database, tenantId: string, page: PageQuery): Promise<{ keys: SshKey[]; total: number }> {
  const base = db.selectFrom('pods_ssh_keys').where('tenant_id', '=', tenantId).where('removed_at', 'is', null);
  const [rows, count] = await Promise.all([
    base.select(['key_id', 'name', 'public_key', 'fingerprint', 'created_at']).orderBy('created_at').orderBy('key_id').limit(page.limit).offset(page.offset).execute(),
    base.select(sql<string>`count(*)`.as('n')).executeTakeFirstOrThrow(),
  ]);
  return { keys: (rows as Row[]).map(toSshKey), total: Number(count.n) };
}


/**
 * The public keys of `ids` that the organization has, by id; with `removedAfter`, also those it
 * removed after then (a machine running since then keeps them until it is redeployed: seed 000;
 * runningPodKeys applies the same rule to every running pod at once).
 */
export async function publicKeysById(db: Database, tenantId: string, ids: string[], removedAfter: string | null = null): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .selectFrom('pods_ssh_keys')
    .select(['key_id', 'public_key'])
    .where('tenant_id', '=', tenantId)
    .where('key_id', 'in', ids)
    .where((eb) => (removedAfter ? eb.or([eb('removed_at', 'is', null), eb('removed_at', '>', new Date(removedAfter))]) : eb('removed_at', 'is', null)))
    .execute();
  return new Map(rows.map((r) => [r.key_id as string, r.public_key as string]));
}
