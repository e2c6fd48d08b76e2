import { z } from 'zod';
import { defineCommand, defineEvent } from '@volt/contracts';
import { ApiKeyIdSchema, RoleSchema, SCOPES, ScopeSchema } from './access';

const at = z.iso.datetime();
const Scopes = z
  .array(ScopeSchema)
  .min(1)
  .max(SCOPES.length)
  .refine((s) => new Set(s).size === s.length, { message: 'scopes must not repeat', params: { rule: 'unique' } });

/**
 * The secret itself never appears in an event: only its SHA-256 (the key has 238
 * random bits, so the digest cannot be reversed) and a short preview.
 */
export const ApiKeyCreated = defineEvent(
  'identity',
  'ApiKeyCreated',
  z.object({ keyId: ApiKeyIdSchema, name: z.string(), keyHash: z.string().regex(/^[0-9a-f]{64}$/), keyPreview: z.string(), scopes: Scopes, role: RoleSchema, createdAt: at }),
);
export const ApiKeyRevoked = defineEvent('identity', 'ApiKeyRevoked', z.object({ keyId: ApiKeyIdSchema, revokedAt: at }));

export const CreateApiKey = defineCommand(
  'identity',
  'CreateApiKey',
  z.object({
    keyId: ApiKeyIdSchema,
    name: z.string().min(1).max(100),
    keyHash: z.string().regex(/^[0-9a-f]{64}$/),
    keyPreview: z.string(),
    scopes: Scopes,
    role: RoleSchema,
    requesterRole: RoleSchema,
    /** The scopes of the key that asks: a key grants none it does not hold. */
    requesterScopes: z.array(ScopeSchema),
    requestedAt: at,
  }),
);
export const RevokeApiKey = defineCommand('identity', 'RevokeApiKey', z.object({ keyId: z.string(), requestedAt: at }));

// REST: seed 000 /api/volt/api-keys and seed 001 /v1/orgs/{org_id}/api-keys.
export const CreateApiKeyBodySchema = z
  .strictObject({
    name: z.string().trim().min(1).max(100),
    scopes: Scopes.optional(),
    role: RoleSchema.optional(),
  })
  .meta({ id: 'CreateApiKeyRequest' });
export const RevokeApiKeyBodySchema = z.strictObject({ key_id: z.string().min(1).max(100) }).meta({ id: 'RevokeApiKeyRequest' });

export const ApiKeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    key_preview: z.string(),
    scopes: z.array(ScopeSchema),
    role: RoleSchema,
    last_used: z.string().nullable(),
    created_at: z.string(),
  })
  .meta({ id: 'ApiKey' });
export type ApiKey = z.infer<typeof ApiKeySchema>;
export const ApiKeyListSchema = z.object({ api_keys: z.array(ApiKeySchema), total: z.number().int() }).meta({ id: 'ApiKeyList' });
export const ApiKeyCreatedSchema = z
  .object({ id: z.string(), name: z.string(), key: z.string(), scopes: z.array(ScopeSchema), role: RoleSchema, created_at: z.string(), message: z.string() })
  .meta({ id: 'ApiKeyCreatedResponse' });
export type ApiKeyCreatedResponse = z.infer<typeof ApiKeyCreatedSchema>;
export const ApiKeyRevokedSchema = z.object({ id: z.string(), deleted: z.literal(true), message: z.string() }).meta({ id: 'ApiKeyRevokedResponse' });
