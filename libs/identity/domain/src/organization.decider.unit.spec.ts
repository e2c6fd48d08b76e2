import { describe, expect, it } from 'vitest';
import { given } from '@volt/testing';
import { MAX_ACTIVE_KEYS, organizationDecider, type OrganizationEvent } from './organization.decider';

const at = '2026-11-22T10:00:00.000Z';
const hash = 'a'.repeat(64);
const created: OrganizationEvent = {
  type: 'OrganizationCreated',
  data: { orgId: 'org_a', slug: 'acme', name: 'Acme', owner: { memberId: 'mem_owner', email: 'owner@acme.test' }, createdAt: at },
};
// Each existing key has a secret of its own.
const hashOf = (keyId: string) => keyId.padEnd(64, 'f');
const key = (keyId: string): OrganizationEvent => ({
  type: 'ApiKeyCreated',
  data: { keyId, name: keyId, keyHash: hashOf(keyId), keyPreview: 'volt_...abcd', scopes: ['pods'], role: 'member', createdAt: at },
});
type Scope = 'pods' | 'billing' | 'api-keys';
const createKey = (role: 'owner' | 'admin' | 'member' | 'viewer', requesterRole: typeof role, keyId = 'ak_new', scopes: Scope[] = ['pods'], requesterScopes: Scope[] = ['pods', 'api-keys']) => ({
  type: 'CreateApiKey' as const,
  data: { keyId, name: 'ci', keyHash: hash, keyPreview: 'volt_...abcd', scopes, role, requesterRole, requesterScopes, requestedAt: at },
});

describe('organization decider', () => {
  it('creates an organization once, with its owner as the first member', () => {
    const command = { type: 'CreateOrganization' as const, data: { ...created.data, requestedAt: at } as never };
    given(organizationDecider).when(command).then([created]);
    given(organizationDecider, [created]).when(command).thenError('CONFLICT');
  });

  it('refuses anything for an organization that does not exist', () => {
    given(organizationDecider).when({ type: 'RevokeApiKey', data: { keyId: 'ak_x', requestedAt: at } }).thenError('NOT_FOUND');
  });

  it('never lets a key create a stronger key', () => {
    given(organizationDecider, [created]).when(createKey('admin', 'admin')).then([
      { type: 'ApiKeyCreated', data: { keyId: 'ak_new', name: 'ci', keyHash: hash, keyPreview: 'volt_...abcd', scopes: ['pods'], role: 'admin', createdAt: at } },
    ]);
    expect(given(organizationDecider, [created]).when(createKey('owner', 'admin')).thenError('FORBIDDEN').message).toBe('An admin key cannot create an owner key.');
    expect(given(organizationDecider, [created]).when(createKey('member', 'viewer')).thenError('FORBIDDEN').message).toBe('A viewer key cannot create a member key.');
  });

  it('never lets a key grant a scope it does not hold, whatever its role', () => {
    const refused = given(organizationDecider, [created]).when(createKey('member', 'owner', 'ak_new', ['pods', 'billing'], ['pods', 'api-keys'])).thenError('FORBIDDEN');
    expect(refused.message).toBe('This key cannot grant scopes it does not have: billing.');
    given(organizationDecider, [created]).when(createKey('member', 'admin', 'ak_new', ['pods', 'billing'], ['pods', 'billing', 'api-keys'])).then([
      { type: 'ApiKeyCreated', data: { keyId: 'ak_new', name: 'ci', keyHash: hash, keyPreview: 'volt_...abcd', scopes: ['pods', 'billing'], role: 'member', createdAt: at } },
    ]);
  });

  it('revokes a key once; a revoked or unknown key is not found', () => {
    given(organizationDecider, [created, key('ak_1')]).when({ type: 'RevokeApiKey', data: { keyId: 'ak_1', requestedAt: at } }).then([
      { type: 'ApiKeyRevoked', data: { keyId: 'ak_1', revokedAt: at } },
    ]);
    const revoked: OrganizationEvent = { type: 'ApiKeyRevoked', data: { keyId: 'ak_1', revokedAt: at } };
    given(organizationDecider, [created, key('ak_1'), revoked]).when({ type: 'RevokeApiKey', data: { keyId: 'ak_1', requestedAt: at } }).thenError('NOT_FOUND');
    given(organizationDecider, [created]).when({ type: 'RevokeApiKey', data: { keyId: 'ak_zz', requestedAt: at } }).thenError('NOT_FOUND');
  });

  it('keeps the last owner key: another owner key first, then this one may go', () => {
    const owner = (keyId: string): OrganizationEvent => ({ ...key(keyId), data: { ...(key(keyId).data as object), role: 'owner' } }) as OrganizationEvent;
    const refused = given(organizationDecider, [created, owner('ak_o1'), key('ak_m')]).when({ type: 'RevokeApiKey', data: { keyId: 'ak_o1', requestedAt: at } }).thenError('CONFLICT');
    expect(refused.message).toMatch(/last owner key/);
    given(organizationDecider, [created, owner('ak_o1'), owner('ak_o2')]).when({ type: 'RevokeApiKey', data: { keyId: 'ak_o1', requestedAt: at } }).then([
      { type: 'ApiKeyRevoked', data: { keyId: 'ak_o1', revokedAt: at } },
    ]);
  });

  it(`bounds active keys at ${MAX_ACTIVE_KEYS}; revoked ones do not count`, () => {
    const many = Array.from({ length: MAX_ACTIVE_KEYS }, (_, i) => key(`ak_${i}`));
    given(organizationDecider, [created, ...many]).when(createKey('member', 'owner')).thenError('CONFLICT');
    const revoked: OrganizationEvent = { type: 'ApiKeyRevoked', data: { keyId: 'ak_0', revokedAt: at } };
    expect(Array.isArray(given(organizationDecider, [created, ...many, revoked]).when(createKey('member', 'owner')).outcome)).toBe(true);
  });

  it('keeps at least one owner, and only owners make owners', () => {
    const addOwner = { type: 'AddMember' as const, data: { memberId: 'mem_b', email: 'b@acme.test', role: 'owner' as const, requesterRole: 'admin' as const, requestedAt: at } };
    given(organizationDecider, [created]).when(addOwner).thenError('FORBIDDEN');
    given(organizationDecider, [created]).when({ type: 'RemoveMember', data: { memberId: 'mem_owner', requesterRole: 'owner', requestedAt: at } }).thenError('CONFLICT');
    given(organizationDecider, [created])
      .when({ type: 'ChangeMemberRole', data: { memberId: 'mem_owner', role: 'admin', requesterRole: 'owner', requestedAt: at } })
      .thenError('CONFLICT');
    given(organizationDecider, [created])
      .when({ type: 'AddMember', data: { memberId: 'mem_c', email: 'OWNER@acme.test', role: 'member', requesterRole: 'owner', requestedAt: at } })
      .thenError('CONFLICT');
  });

  it('treats a secret it already holds as no change, and never reissues a revoked one', () => {
    const held = { ...createKey('member', 'owner', 'ak_again'), data: { ...createKey('member', 'owner', 'ak_again').data, keyHash: hashOf('ak_1') } };
    given(organizationDecider, [created, key('ak_1')]).when(held).then([]);
    const revoked: OrganizationEvent = { type: 'ApiKeyRevoked', data: { keyId: 'ak_1', revokedAt: at } };
    given(organizationDecider, [created, key('ak_1'), revoked]).when(held).thenError('CONFLICT');
  });
});
