import { z } from 'zod';
import { defineCommand, defineEvent } from '@volt/contracts';
import { DockerCredentialIdSchema } from './templates';

const at = z.iso.datetime();

/** POST /api/volt/docker-credentials (seed 000). The password is sealed by the gateway and never returned. */
export const CreateDockerCredentialBodySchema = z
  .strictObject({
    name: z.string().trim().min(1).max(100),
    registry: z
      .string()
      .trim()
      .min(1)
      .max(253)
      .regex(/^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?$/, 'a registry host such as ghcr.io or 123456789.dkr.ecr.us-east-1.amazonaws.com'),
    username: z.string().min(1).max(256),
    password: z.string().min(1).max(8192),
  })
  .meta({ id: 'CreateDockerCredentialRequest' });
export type CreateDockerCredentialBody = z.infer<typeof CreateDockerCredentialBodySchema>;

export const DockerCredentialSchema = z
  .object({ id: z.string(), name: z.string(), registry: z.string(), username: z.string(), created_at: z.string() })
  .meta({ id: 'DockerCredential' });
export type DockerCredential = z.infer<typeof DockerCredentialSchema>;
export const DockerCredentialListSchema = z
  .object({ credentials: z.array(DockerCredentialSchema), total: z.number().int() })
  .meta({ id: 'DockerCredentialList' });
export const DockerCredentialDeletedSchema = z
  .object({ id: z.string(), deleted: z.literal(true), message: z.string() })
  .meta({ id: 'DockerCredentialDeletedResponse' });

export const SealedSecretSchema = z.object({ keyId: z.string(), iv: z.string(), ciphertext: z.string(), tag: z.string() });

/** No password and no ciphertext in the event: the sealed password lives in a table of its own and can be erased. */
export const DockerCredentialAdded = defineEvent(
  'pods',
  'DockerCredentialAdded',
  z.object({ credentialId: z.string(), name: z.string(), registry: z.string(), username: z.string(), addedAt: at }),
);
export const DockerCredentialRemoved = defineEvent('pods', 'DockerCredentialRemoved', z.object({ credentialId: z.string(), removedAt: at }));

export const AddDockerCredential = defineCommand(
  'pods',
  'AddDockerCredential',
  z.object({ credentialId: DockerCredentialIdSchema, name: z.string(), registry: z.string(), username: z.string(), password: SealedSecretSchema, requestedAt: at }),
);
export const RemoveDockerCredential = defineCommand('pods', 'RemoveDockerCredential', z.object({ credentialId: z.string(), requestedAt: at }));

/** What the sealed password is bound to: moved to another row or organization, it will not open. */
export const dockerSecretAad = (tenantId: string, credentialId: string) => `docker-credential:${tenantId}:${credentialId}`;
