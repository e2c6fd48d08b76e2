import { createHash } from 'node:crypto';
import { uuidFromName, type EventStore } from '@volt/event-store';
import { SCOPES, SlugSchema, organizationStream } from '@volt/identity-contracts';
import { generateApiKey, hashApiKey, newId, previewOf } from './api-key-secret';
import { decideForOrganization } from './organization.handlers';
import { fold } from '@volt/domain';
import { organizationDecider, type OrganizationEvent } from '@volt/identity-domain';

/**
 * An organization's id follows from its slug, so "this slug is taken" and "this
 * organization exists" are the same fact, decided by the stream's expected version
 * with no separate uniqueness table.
 */
export function orgIdForSlug(slug: string): string {
  const digest = createHash('sha256').update(`volt-org:${slug}`).digest();
  let n = BigInt(`0x${digest.subarray(0, 12).toString('hex')}`);
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  let id = '';
  for (let i = 0; i < 16; i++, n /= 62n) id += alphabet[Number(n % 62n)];
  return `org_${id}`;
}

export function slugFromName(name: string): string {
  const slug = name
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return slug.length >= 2 ? slug : `org-${slug || 'x'}`;
}

export interface CreateOrganizationInput {
  name: string;
  slug?: string;
  ownerEmail?: string;
  /** Use this secret for the first key instead of generating one (npm start's VOLT_DEMO_API_KEY). */
  apiKey?: string;
  /** If the organization exists, make sure it holds `apiKey` rather than failing. */
  ifExists?: 'fail' | 'reuse';
  now?: Date;
}

export interface CreatedOrganization {
  orgId: string;
  slug: string;
  apiKey: string;
  created: boolean;
}

const SYSTEM = { type: 'system' as const, id: 'volt-admin' };

/** Creates an organization and its first key (owner, every scope): what `volt-admin org create` does. */
export async function createOrganization(store: EventStore, input: CreateOrganizationInput): Promise<CreatedOrganization> {
  const requestedAt = (input.now ?? new Date()).toISOString();
  const slug = SlugSchema.parse(input.slug ?? slugFromName(input.name));
  const orgId = orgIdForSlug(slug);
  const ctx = (commandId: string) => ({ commandId, orgId, actor: SYSTEM, correlationId: commandId });

  const history = await store.readStream(organizationStream(orgId));
  const exists = history.length > 0;
  if (exists && input.ifExists !== 'reuse') throw new Error(`an organization with the slug "${slug}" already exists`);
  if (!exists) {
    const created = await decideForOrganization(store, ctx(uuidFromName(`create-org:${orgId}`)), {
      type: 'CreateOrganization',
      data: { orgId, slug, name: input.name, owner: { memberId: newId('mem'), email: input.ownerEmail ?? `owner@${slug}.volt.local` }, requestedAt },
    });
    // Two creators racing: the expected version lets one win; the other sees CONFLICT.
    if (!created.ok) throw new Error(created.error.code === 'CONFLICT' ? `an organization with the slug "${slug}" already exists` : created.error.message);
  }

  const secret = input.apiKey ?? generateApiKey().secret;
  const hash = hashApiKey(secret);
  // The key's creation below has a command id of its own, so a key made once and revoked since
  // would be answered as that first creation again: look for it first.
  const state = fold(organizationDecider, history.map((e) => ({ type: e.type, data: e.data }) as OrganizationEvent));
  if ([...state.keys.values()].some((k) => k.hash === hash && !k.active)) throw new Error('That API key was revoked; a revoked key is never issued again.');
  // Holding this key already is no change; the decider refuses one that was revoked.
  const key = await decideForOrganization(store, ctx(uuidFromName(`first-key:${orgId}:${hash}`)), {
    type: 'CreateApiKey',
    data: { keyId: newId('ak'), name: 'Admin key', keyHash: hash, keyPreview: previewOf(secret), scopes: [...SCOPES], role: 'owner', requesterRole: 'owner', requesterScopes: [...SCOPES], requestedAt },
  });
  if (!key.ok) throw new Error(key.error.message);
  return { orgId, slug, apiKey: secret, created: !exists };
}
