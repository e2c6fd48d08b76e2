import type { EventEnvelope } from '@volt/contracts';
import { eachEvent } from '@volt/projections';

export const dockerCredentialListProjection = eachEvent('pods.docker-credential-list', ['pods_docker_credentials'], {
  async DockerCredentialAdded(trx, e: EventEnvelope<any>) {
    const d = e.data;
    await trx
      .insertInto('pods_docker_credentials')
      .values({ tenant_id: e.tenantId, credential_id: d.credentialId, name: d.name, registry: d.registry, username: d.username, created_at: d.addedAt })
      .onConflict((oc) => oc.columns(['tenant_id', 'credential_id']).doNothing())
      .execute();
  },
  async DockerCredentialRemoved(trx, e: EventEnvelope<any>) {
    await trx.deleteFrom('pods_docker_credentials').where('tenant_id', '=', e.tenantId).where('credential_id', '=', e.data.credentialId).execute();
  },
});
