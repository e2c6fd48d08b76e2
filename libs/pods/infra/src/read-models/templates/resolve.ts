import { domainError, type DomainError } from '@volt/contracts';
import type { Database } from '@volt/event-store';
import { dockerSecretAad } from '@volt/pods-contracts';
import type { Keyring } from '@volt/secrets';
import { findTemplate } from './query';

export interface DeployImage {
  image: string;
  ports: number[];
  envVars: Record<string, string>;
  registryAuth: { registry: string; username: string; password: string } | null;
}

/**
 * What a pod is deployed from: the template as it is now (a pod keeps what it was
 * deployed with) and, if the template names one, the registry login, opened only
 * here, at deploy time.
 */
export async function resolveDeployImage(db: Database, keyring: Keyring, tenantId: string, templateId: string): Promise<{ ok: true; value: DeployImage } | { ok: false; error: DomainError }> {
  const template = await findTemplate(db, tenantId, templateId);
  if (!template) return { ok: false, error: domainError('NOT_FOUND', `Template ${templateId} not found.`) };
  const base = { image: template.image, ports: template.ports, envVars: template.env_vars };
  if (!template.docker_credential_id) return { ok: true, value: { ...base, registryAuth: null } };
  const credentialId = template.docker_credential_id;
  const row = await db
    .selectFrom('pods_docker_credentials as c')
    .innerJoin('pods_docker_secrets as s', (j) => j.onRef('s.tenant_id', '=', 'c.tenant_id').onRef('s.credential_id', '=', 'c.credential_id'))
    .select(['c.registry', 'c.username', 's.key_id', 's.iv', 's.ciphertext', 's.tag'])
    .where('c.tenant_id', '=', tenantId)
    .where('c.credential_id', '=', credentialId)
    .executeTakeFirst();
  if (!row) {
    const message = `Template ${templateId} pulls with Docker credential ${credentialId}, which was deleted. Add the registry credential again and update the template's docker_credential_id.`;
    return { ok: false, error: domainError('VALIDATION_ERROR', message, [{ field: 'template_id', rule: 'docker_credential_exists', message }]) };
  }
  const password = keyring.open({ keyId: row.key_id, iv: row.iv, ciphertext: row.ciphertext, tag: row.tag }, dockerSecretAad(tenantId, credentialId));
  return { ok: true, value: { ...base, registryAuth: { registry: row.registry, username: row.username, password } } };
}
