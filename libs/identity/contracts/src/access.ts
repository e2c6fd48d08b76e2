import { z } from 'zod';

/** Seed 000's key scopes (plus fine-tuning, billing and api-keys): which resources a key may touch. */
export const SCOPES = ['pods', 'templates', 'ssh-keys', 'docker-credentials', 'machines', 'fine-tuning', 'billing', 'api-keys'] as const;
export const ScopeSchema = z.enum(SCOPES);
export type Scope = z.infer<typeof ScopeSchema>;

/**
 * Seed 004's member roles, strongest first. A key acts with a role: viewers read,
 * members change resources, admins and owners also manage keys and read the audit log.
 */
export const ROLES = ['owner', 'admin', 'member', 'viewer'] as const;
export const RoleSchema = z.enum(ROLES);
export type Role = z.infer<typeof RoleSchema>;

/** True when `role` is at least as strong as `required`. */
export function roleAtLeast(role: Role, required: Role): boolean {
  return ROLES.indexOf(role) <= ROLES.indexOf(required);
}

export const OrgIdSchema = z.string().regex(/^org_[A-Za-z0-9]{1,64}$/);
export const ApiKeyIdSchema = z.string().regex(/^ak_[A-Za-z0-9]{1,64}$/);
export const MemberIdSchema = z.string().regex(/^mem_[A-Za-z0-9]{1,64}$/);
export const SlugSchema = z
  .string()
  .min(2)
  .max(48)
  .regex(/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/, 'lowercase letters, digits and inner hyphens');

/** The API key secret's fixed prefix (seed 001: `volt_sk_live_…`). */
export const API_KEY_PREFIX = 'volt_sk_live_';

