import { sql } from 'kysely';
import type { PageQuery } from '@volt/contracts';
import type { Database } from '@volt/event-store';
import type { DockerCredential } from '@volt/pods-contracts';

const COLUMNS = ['credential_id', 'name', 'registry', 'username', 'created_at'] as const;
const toCredential = (r: any): DockerCredential => ({
  id: r.credential_id,
  name: r.name,
  registry: r.registry,
  username: r.username,
  created_at: (r.created_at as Date).toISOString(),
});

export async function listDockerCredentials(db: Database, tenantId: string, page: PageQuery): Promise<{ credentials: DockerCredential[]; total: number }> {
  const base = db.selectFrom('pods_docker_credentials').where('tenant_id', '=', tenantId);
  const [rows, count] = await Promise.all([
    base.select(COLUMNS).orderBy('created_at').orderBy('credential_id').limit(page.limit).offset(page.offset).execute(),
    base.select(sql<string>`count(*)`.as('n')).executeTakeFirstOrThrow(),
  ]);
  return { credentials: rows.map(toCredential), total: Number(count.n) };
}

export async function findDockerCredential(db: Database, tenantId: string, credentialId: string): Promise<DockerCredential | undefined> {
  const row = await db.selectFrom('pods_docker_credentials').select(COLUMNS).where('tenant_id', '=', tenantId).where('credential_id', '=', credentialId).executeTakeFirst();
  return row ? toCredential(row) : undefined;
}
