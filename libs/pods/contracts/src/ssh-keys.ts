import { z } from 'zod';
import { defineCommand, defineEvent } from '@volt/contracts';
import { parseSshPublicKey } from './ssh-key-format';

export const SSH_KEY_NAME_MAX = 100;
export const SSH_PUBLIC_KEY_MAX = 16_384;

/** POST /api/volt/ssh-keys (seed 000). Unknown fields are refused, never applied. */
export const CreateSshKeyBodySchema = z
  .strictObject({
    name: z.string().trim().min(1).max(SSH_KEY_NAME_MAX),
    public_key: z
      .string()
      .min(1)
      .max(SSH_PUBLIC_KEY_MAX)
      .superRefine((value, ctx) => {
        const parsed = parseSshPublicKey(value);
        if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.message, params: { rule: parsed.rule } });
      }),
  })
  .meta({ id: 'CreateSshKeyRequest' });
export type CreateSshKeyBody = z.infer<typeof CreateSshKeyBodySchema>;

export const SshKeyIdSchema = z.string().regex(/^key_[A-Za-z0-9]{1,64}$/);

/** One SSH key as the API shows it (seed 000). */
export const SshKeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    public_key: z.string(),
    fingerprint: z.string(),
    created_at: z.string(),
  })
  .meta({ id: 'SshKey' });
export type SshKey = z.infer<typeof SshKeySchema>;

export const SshKeyListSchema = z.object({ ssh_keys: z.array(SshKeySchema), total: z.number().int() }).meta({ id: 'SshKeyList' });
export const SshKeyDeletedSchema = z
  .object({ id: z.string(), deleted: z.literal(true), message: z.string() })
  .meta({ id: 'SshKeyDeleted' });

export const AddSshKey = defineCommand(
  'pods',
  'AddSshKey',
  z.object({ keyId: SshKeyIdSchema, name: z.string(), publicKey: z.string(), requestedAt: z.iso.datetime() }),
);
export const RemoveSshKey = defineCommand('pods', 'RemoveSshKey', z.object({ keyId: z.string(), requestedAt: z.iso.datetime() }));

export const SshKeyAdded = defineEvent(
  'pods',
  'SshKeyAdded',
  z.object({
    keyId: z.string(),
    name: z.string(),
    publicKey: z.string(),
    keyType: z.string(),
    fingerprint: z.string(),
    addedAt: z.iso.datetime(),
  }),
);
export const SshKeyRemoved = defineEvent(
  'pods',
  'SshKeyRemoved',
  z.object({ keyId: z.string(), fingerprint: z.string(), removedAt: z.iso.datetime() }),
);

/** The stream holding one organization's SSH keys. */
export const sshKeysStream = (tenantId: string) => `pods:ssh-keys:${tenantId}`;
