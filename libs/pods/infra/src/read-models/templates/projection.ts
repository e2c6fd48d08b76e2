import type { EventEnvelope } from '@volt/contracts';
import { eachEvent } from '@volt/projections';

const COLUMN: Record<string, string> = {
  name: 'name',
  image: 'image',
  category: 'category',
  description: 'description',
  dockerCredentialId: 'docker_credential_id',
};

export const templateListProjection = eachEvent('pods.template-list', ['pods_templates'], {
  async TemplateCreated(trx, e: EventEnvelope<any>) {
    const d = e.data;
    await trx
      .insertInto('pods_templates')
      .values({
        template_id: d.templateId,
        tenant_id: d.isSystem ? null : e.tenantId,
        name: d.name,
        image: d.image,
        category: d.category,
        description: d.description,
        docker_credential_id: d.dockerCredentialId,
        ports: JSON.stringify(d.ports),
        env_vars: JSON.stringify(d.envVars),
        is_system: d.isSystem,
        created_at: d.createdAt,
      })
      .onConflict((oc) => oc.column('template_id').doNothing())
      .execute();
  },
  async TemplateUpdated(trx, e: EventEnvelope<any>) {
    const set: Record<string, unknown> = {};
    for (const [field, column] of Object.entries(COLUMN)) if (field in e.data) set[column] = e.data[field];
    if ('ports' in e.data) set.ports = JSON.stringify(e.data.ports);
    if ('envVars' in e.data) set.env_vars = JSON.stringify(e.data.envVars);
    await trx.updateTable('pods_templates').set(set).where('template_id', '=', e.data.templateId).execute();
  },
  async TemplateDeleted(trx, e: EventEnvelope<any>) {
    await trx.deleteFrom('pods_templates').where('template_id', '=', e.data.templateId).execute();
  },
});
