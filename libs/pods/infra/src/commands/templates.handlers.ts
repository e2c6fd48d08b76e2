import { domainError, type CommandEnvelope, type CommandReply } from '@volt/contracts';
import { uuidFromName, type Database, type EventStore } from '@volt/event-store';
import {
  AddDockerCredential,
  CreateTemplate,
  DeleteTemplate,
  RemoveDockerCredential,
  SYSTEM_TEMPLATE_IDS,
  SYSTEM_TEMPLATES,
  UpdateTemplate,
  templatesStream,
  type DockerCredential,
} from '@volt/pods-contracts';
import { templatesDecider, type TemplatesCommand } from '@volt/pods-domain';
import { decideFor, requireTenant } from './decide';

type Reply<T> = Promise<CommandReply<T>>;

function decide(store: EventStore, envelope: CommandEnvelope, command: TemplatesCommand) {
  return decideFor(store, templatesDecider, templatesStream(requireTenant(envelope)), envelope, command);
}

function systemTemplateRefusal(templateId: string) {
  return domainError('SYSTEM_TEMPLATE', `${templateId} is a system template; system templates cannot be changed or deleted. Create your own template instead.`);
}

export async function handleCreateTemplate(store: EventStore, envelope: CommandEnvelope): Reply<{ templateId: string }> {
  const data = CreateTemplate.schema.parse(envelope.data);
  if (data.isSystem) return { ok: false, error: domainError('FORBIDDEN', 'Only Volt creates system templates.') };
  const outcome = await decide(store, envelope, { type: 'CreateTemplate', data });
  if (!outcome.ok) return { ok: false, error: outcome.error };
  // From the events, not the command: a replayed command answers with what it created the first time.
  const created = outcome.events.find((e) => e.type === 'TemplateCreated')!;
  return { ok: true, checkpoint: outcome.checkpoint, result: { templateId: created.data.templateId } };
}

export async function handleUpdateTemplate(store: EventStore, envelope: CommandEnvelope): Reply<{ templateId: string }> {
  const data = UpdateTemplate.schema.parse(envelope.data);
  if (SYSTEM_TEMPLATE_IDS.has(data.templateId)) return { ok: false, error: systemTemplateRefusal(data.templateId) };
  const outcome = await decide(store, envelope, { type: 'UpdateTemplate', data });
  return outcome.ok ? { ok: true, checkpoint: outcome.checkpoint, result: { templateId: data.templateId } } : { ok: false, error: outcome.error };
}

export async function handleDeleteTemplate(store: EventStore, envelope: CommandEnvelope): Reply<{ id: string; deleted: true; message: string }> {
  const data = DeleteTemplate.schema.parse(envelope.data);
  if (SYSTEM_TEMPLATE_IDS.has(data.templateId)) return { ok: false, error: systemTemplateRefusal(data.templateId) };
  const outcome = await decide(store, envelope, { type: 'DeleteTemplate', data });
  if (!outcome.ok) return { ok: false, error: outcome.error };
  return { ok: true, checkpoint: outcome.checkpoint, result: { id: data.templateId, deleted: true, message: 'Template deleted. Existing pods using this template are not affected.' } };
}

/**
 * The sealed password is written to its own table first, then the event (which holds
 * no secret). A crash between the two leaves an unreferenced row, never an event
 * without its password.
 */
export async function handleAddDockerCredential(db: Database, store: EventStore, envelope: CommandEnvelope): Reply<DockerCredential> {
  const data = AddDockerCredential.schema.parse(envelope.data);
  const tenantId = requireTenant(envelope);
  const sealed = { key_id: data.password.keyId, iv: data.password.iv, ciphertext: data.password.ciphertext, tag: data.password.tag };
  await db
    .insertInto('pods_docker_secrets')
    .values({ tenant_id: tenantId, credential_id: data.credentialId, ...sealed })
    .onConflict((oc) => oc.columns(['tenant_id', 'credential_id']).doNothing())
    .execute();
  const outcome = await decide(store, envelope, { type: 'AddDockerCredential', data });
  if (!outcome.ok) return { ok: false, error: outcome.error };
  const added = outcome.events.find((e) => e.type === 'DockerCredentialAdded')!;
  if (added.data.credentialId !== data.credentialId) {
    // A replay of a command that already added its credential: this attempt's sealed copy is not needed.
    await db.deleteFrom('pods_docker_secrets').where('tenant_id', '=', tenantId).where('credential_id', '=', data.credentialId).execute();
  }
  const d = added.data;
  return { ok: true, checkpoint: outcome.checkpoint, result: { id: d.credentialId, name: d.name, registry: d.registry, username: d.username, created_at: d.addedAt } };
}

/** Removes the credential and erases its sealed password; templates that used it fail their next deploy. */
export async function handleRemoveDockerCredential(db: Database, store: EventStore, envelope: CommandEnvelope): Reply<{ id: string; deleted: true; message: string }> {
  const data = RemoveDockerCredential.schema.parse(envelope.data);
  const outcome = await decide(store, envelope, { type: 'RemoveDockerCredential', data });
  if (!outcome.ok) return { ok: false, error: outcome.error };
  await db.deleteFrom('pods_docker_secrets').where('tenant_id', '=', requireTenant(envelope)).where('credential_id', '=', data.credentialId).execute();
  return { ok: true, checkpoint: outcome.checkpoint, result: { id: data.credentialId, deleted: true, message: 'Docker credential removed.' } };
}

/** Creates Volt's system templates if they are not there yet; safe on every start of every instance. */
export async function seedSystemTemplates(store: EventStore, now = new Date('2025-12-01T00:00:00.000Z')): Promise<void> {
  const existing = new Set((await store.readStream(templatesStream(null))).map((e) => (e.data as { templateId: string }).templateId));
  for (const t of SYSTEM_TEMPLATES) {
    if (existing.has(t.templateId)) continue;
    const commandId = uuidFromName(`system-template:${t.templateId}`);
    const envelope = {
      id: commandId,
      type: 'CreateTemplate',
      schemaVersion: 1,
      tenantId: null,
      correlationId: commandId,
      causationId: null,
      actor: { type: 'system' as const, id: 'pods' },
      issuedAt: now.toISOString(),
      data: {},
    };
    const outcome = await decideFor(store, templatesDecider, templatesStream(null), envelope, {
      type: 'CreateTemplate',
      data: { ...t, dockerCredentialId: null, ports: [22], envVars: {}, isSystem: true, requestedAt: now.toISOString() },
    });
    // Another instance seeding at the same moment is fine: whichever wins wrote the same template.
    if (!outcome.ok && outcome.error.code !== 'CONFLICT') throw new Error(`seeding ${t.templateId}: ${outcome.error.message}`);
  }
}
