import { eachEvent } from '@volt/projections';
import type { MessageOf, EventEnvelope } from '@volt/contracts';
import type { SshKeyAdded, SshKeyRemoved } from '@volt/pods-contracts';

type Added = MessageOf<typeof SshKeyAdded>['data'];
type Removed = MessageOf<typeof SshKeyRemoved>['data'];

export const sshKeyListProjection = eachEvent('pods.ssh-key-list', ['pods_ssh_keys'], {
  async SshKeyAdded(trx, event: EventEnvelope<Added>) {
    await trx
      .insertInto('pods_ssh_keys')
      .values({
        tenant_id: event.tenantId,
        key_id: event.data.keyId,
        name: event.data.name,
        public_key: event.data.publicKey,
        key_type: event.data.keyType,
        fingerprint: event.data.fingerprint,
        created_at: event.data.addedAt,
      })
      .onConflict((oc) => oc.columns(['tenant_id', 'key_id']).doNothing())
      .execute();
  },
  // Kept, marked removed: the machines running with it keep it until they are redeployed (seed 000).
  async SshKeyRemoved(trx, event: EventEnvelope<Removed>) {
    await trx.updateTable('pods_ssh_keys').set({ removed_at: event.data.removedAt }).where('tenant_id', '=', event.tenantId).where('key_id', '=', event.data.keyId).execute();
  },
});
