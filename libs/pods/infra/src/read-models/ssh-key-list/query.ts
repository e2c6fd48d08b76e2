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
export async function listSshKeys(db: Database, tenantId: string): Promise<SshKey[]> {
  const rows = await db
    .selectFrom('pods_ssh_keys')
    .select(['key_id', 'name', 'public_key', 'fingerprint', 'created_at'])
    .where('tenant_id', '=', tenantId)
    .orderBy('created_at')
    .orderBy('key_id')
    .execute();
  return (rows as Row[]).map(toSshKey);
}

export async function findSshKey(db: Database, tenantId: string, keyId: string): Promise<SshKey | undefined> {
  const row = await db
    .selectFrom('pods_ssh_keys')
    .select(['key_id', 'name', 'public_key', 'fingerprint', 'created_at'])
    .where('tenant_id', '=', tenantId)
    .where('key_id', '=', keyId)
    .executeTakeFirst();
  return row ? toSshKey(row as Row) : undefined;
}
