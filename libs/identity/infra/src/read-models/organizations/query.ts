import { sql } from 'kysely';
import type { Database } from '@volt/event-store';
import type { PageQuery } from '@volt/contracts';
import type { ApiKey, Member, Organization, Role, Scope } from '@volt/identity-contracts';

/** What the gateway needs to know about a presented key. */
export interface KeyPrincipal {
  keyId: string;
  orgId: string;
  scopes: Scope[];
  role: Role;
  /** The organization's own limits; null falls back to the gateway's defaults. */
  requestsPerHour: number | null;
  podCreatesPer15Min: number | null;
}

/** The active key with this SHA-256, if any. */
export async function findActiveKeyByHash(db: Database, keyHash: string): Promise<KeyPrincipal | undefined> {
  const row = await db
    .selectFrom('identity_api_keys as k')
    .innerJoin('identity_orgs as o', 'o.org_id', 'k.org_id')
    .select(['k.key_id', 'k.org_id', 'k.scopes', 'k.role', 'o.requests_per_hour', 'o.pod_creates_per_15_min'])
    .where('k.key_hash', '=', keyHash)
    .where('k.revoked_at', 'is', null)
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    keyId: row.key_id,
    orgId: row.org_id,
    scopes: row.scopes,
    role: row.role,
    requestsPerHour: row.requests_per_hour,
    podCreatesPer15Min: row.pod_creates_per_15_min,
  };
}

/** An organization's active keys, oldest first, with when each was last used. */
export async function listApiKeys(db: Database, orgId: string, page: PageQuery): Promise<{ keys: ApiKey[]; total: number }> {
  const base = db.selectFrom('identity_api_keys as k').where('k.org_id', '=', orgId).where('k.revoked_at', 'is', null);
  const [rows, count] = await Promise.all([
    base
      .leftJoin('gw_api_key_usage as u', 'u.key_id', 'k.key_id')
      .select(['k.key_id', 'k.name', 'k.key_preview', 'k.scopes', 'k.role', 'k.created_at', 'u.last_used'])
      .orderBy('k.created_at')
      .orderBy('k.key_id')
      .limit(page.limit)
      .offset(page.offset)
      .execute(),
    base.select(sql<string>`count(*)`.as('n')).executeTakeFirstOrThrow(),
  ]);
  return {
    total: Number(count.n),
    keys: rows.map((r) => ({
      id: r.key_id,
      name: r.name,
      key_preview: r.key_preview,
      scopes: r.scopes,
      role: r.role,
      last_used: r.last_used ? (r.last_used as Date).toISOString() : null,
      created_at: (r.created_at as Date).toISOString(),
    })),
  };
}

export async function listMembers(db: Database, orgId: string): Promise<Member[]> {
  const rows = await db.selectFrom('identity_members').selectAll().where('org_id', '=', orgId).orderBy('added_at').orderBy('member_id').execute();
  return rows.map((r) => ({ id: r.member_id, email: r.email, role: r.role, added_at: (r.added_at as Date).toISOString() }));
}

export interface OrganizationRow {
  orgId: string;
  slug: string;
  name: string;
  createdAt: string;
  requestsPerHour: number | null;
  podCreatesPer15Min: number | null;
}

/** By id or by slug (seed 004 addresses organizations by slug). */
export async function findOrganization(db: Database, idOrSlug: string): Promise<OrganizationRow | undefined> {
  const row = await db
    .selectFrom('identity_orgs')
    .selectAll()
    .where((eb) => eb.or([eb('org_id', '=', idOrSlug), eb('slug', '=', idOrSlug)]))
    .executeTakeFirst();
  if (!row) return undefined;
  return {
    orgId: row.org_id,
    slug: row.slug,
    name: row.name,
    createdAt: (row.created_at as Date).toISOString(),
    requestsPerHour: row.requests_per_hour,
    podCreatesPer15Min: row.pod_creates_per_15_min,
  };
}

export async function organizationView(db: Database, org: OrganizationRow, defaults: { requestsPerHour: number; podCreatesPer15Min: number }): Promise<Organization> {
  return {
    id: org.orgId,
    slug: org.slug,
    name: org.name,
    created_at: org.createdAt,
    limits: {
      requests_per_hour: org.requestsPerHour ?? defaults.requestsPerHour,
      pod_creates_per_15_min: org.podCreatesPer15Min ?? defaults.podCreatesPer15Min,
    },
    members: await listMembers(db, org.orgId),
  };
}

/** Records when keys were last used: one statement for many keys, never one per request. */
export async function recordKeyUsage(db: Database, usage: Map<string, Date>): Promise<void> {
  if (usage.size === 0) return;
  await db
    .insertInto('gw_api_key_usage')
    .values([...usage].map(([key_id, last_used]) => ({ key_id, last_used })))
    .onConflict((oc) => oc.column('key_id').doUpdateSet({ last_used: sql`GREATEST(gw_api_key_usage.last_used, excluded.last_used)` }))
    .execute();
}
