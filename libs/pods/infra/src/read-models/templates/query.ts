import { sql } from 'kysely';
import type { PageQuery } from '@volt/contracts';
import type { Database } from '@volt/event-store';
import type { Template, TemplateSummary } from '@volt/pods-contracts';

const toTemplate = (r: any): Template => ({
  id: r.template_id,
  name: r.name,
  image: r.image,
  category: r.category,
  is_system: r.is_system,
  description: r.description,
  docker_credential_id: r.docker_credential_id,
  ports: r.ports,
  env_vars: r.env_vars,
  created_at: (r.created_at as Date).toISOString(),
});

const visibleTo = (db: Database, tenantId: string) =>
  db.selectFrom('pods_templates').where((eb) => eb.or([eb('tenant_id', '=', tenantId), eb('is_system', '=', true)]));

/** System templates first, then the organization's own, oldest first. */
export async function listTemplates(db: Database, tenantId: string, page: PageQuery): Promise<{ templates: TemplateSummary[]; total: number }> {
  const [rows, count] = await Promise.all([
    visibleTo(db, tenantId).selectAll().orderBy('is_system', 'desc').orderBy('created_at').orderBy('template_id').limit(page.limit).offset(page.offset).execute(),
    visibleTo(db, tenantId).select(sql<string>`count(*)`.as('n')).executeTakeFirstOrThrow(),
  ]);
  return {
    templates: rows.map((r) => {
      const { docker_credential_id: _c, ports: _p, env_vars: _e, ...summary } = toTemplate(r);
      return summary;
    }),
    total: Number(count.n),
  };
}

/** A template the organization can see (its own or a system one); another organization's is not found. */
export async function findTemplate(db: Database, tenantId: string, templateId: string): Promise<Template | undefined> {
  const row = await visibleTo(db, tenantId).selectAll().where('template_id', '=', templateId).executeTakeFirst();
  return row ? toTemplate(row) : undefined;
}
