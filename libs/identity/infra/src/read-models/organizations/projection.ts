import type { EventEnvelope } from '@volt/contracts';
import { eachEvent } from '@volt/projections';

/** Organizations, their members and their API keys (hashes only), as the gateway reads them. */
export const organizationsProjection = eachEvent('identity.organizations', ['identity_api_keys', 'identity_members', 'identity_orgs'], {
  async OrganizationCreated(trx, e: EventEnvelope<any>) {
    const d = e.data;
    await trx.insertInto('identity_orgs').values({ org_id: d.orgId, slug: d.slug, name: d.name, created_at: d.createdAt }).onConflict((oc) => oc.column('org_id').doNothing()).execute();
    await trx
      .insertInto('identity_members')
      .values({ org_id: d.orgId, member_id: d.owner.memberId, email: d.owner.email, role: 'owner', added_at: d.createdAt })
      .onConflict((oc) => oc.columns(['org_id', 'member_id']).doNothing())
      .execute();
  },
  async MemberAdded(trx, e: EventEnvelope<any>) {
    await trx
      .insertInto('identity_members')
      .values({ org_id: e.tenantId, member_id: e.data.memberId, email: e.data.email, role: e.data.role, added_at: e.data.addedAt })
      .onConflict((oc) => oc.columns(['org_id', 'member_id']).doNothing())
      .execute();
  },
  async MemberRoleChanged(trx, e: EventEnvelope<any>) {
    await trx.updateTable('identity_members').set({ role: e.data.role }).where('org_id', '=', e.tenantId).where('member_id', '=', e.data.memberId).execute();
  },
  async MemberRemoved(trx, e: EventEnvelope<any>) {
    await trx.deleteFrom('identity_members').where('org_id', '=', e.tenantId).where('member_id', '=', e.data.memberId).execute();
  },
  async OrganizationLimitsSet(trx, e: EventEnvelope<any>) {
    await trx
      .updateTable('identity_orgs')
      .set({ requests_per_hour: e.data.requestsPerHour, pod_creates_per_15_min: e.data.podCreatesPer15Min })
      .where('org_id', '=', e.tenantId)
      .execute();
  },
  async ApiKeyCreated(trx, e: EventEnvelope<any>) {
    const d = e.data;
    await trx
      .insertInto('identity_api_keys')
      .values({ key_id: d.keyId, org_id: e.tenantId, name: d.name, key_hash: d.keyHash, key_preview: d.keyPreview, scopes: d.scopes, role: d.role, created_at: d.createdAt })
      .onConflict((oc) => oc.column('key_id').doNothing())
      .execute();
  },
  async ApiKeyRevoked(trx, e: EventEnvelope<any>) {
    await trx.updateTable('identity_api_keys').set({ revoked_at: e.data.revokedAt }).where('key_id', '=', e.data.keyId).execute();
  },
});
