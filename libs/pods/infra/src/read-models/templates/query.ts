import { sql } from 'kysely';
import type { PageQuery } from '@volt/contracts';
import { batched, rowsByIds, type Batcher, type Database } from '@volt/event-store';
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
export function findTemplate(db: Database, tenantId: string, templateId: string): Promise<Template | undefined> {
  return batched(templateLookups, db, lookUpTemplates, { tenantId, templateId });
}

type TemplateAsk = { tenantId: string; templateId: string };
const templateLookups = new WeakMap<Database, Batcher<TemplateAsk, Template | undefined>>();
/** Lookups made at once share a statement. */
const lookUpTemplates = async (db: Database, asks: TemplateAsk[]) => {
  const byId = await rowsByIds(db, 'pods_templates', 'template_id', asks.map((a) => a.templateId));
  return asks.map((a) => {
    const row = byId.get(a.templateId);
    return row && (row.is_system || row.tenant_id === a.tenantId) ? toTemplate(row) : undefined;
  });
};
