import type { CommandEnvelope, CommandReply, MessageOf } from '@volt/contracts';
import type { EventStore } from '@volt/event-store';
import { AddSshKey, RemoveSshKey, sshKeysStream, type SshKey } from '@volt/pods-contracts';
import { sshKeysDecider, type SshKeyCommand, type SshKeyEvent } from '@volt/pods-domain';
import { decideFor, requireTenant } from './decide';

type AddData = MessageOf<typeof AddSshKey>['data'];
type RemoveData = MessageOf<typeof RemoveSshKey>['data'];

function decide(store: EventStore, command: CommandEnvelope, decided: SshKeyCommand) {
  return decideFor(store, sshKeysDecider, sshKeysStream(requireTenant(command)), command, decided);
}

export async function handleAddSshKey(store: EventStore, command: CommandEnvelope<AddData>): Promise<CommandReply<SshKey>> {
  const outcome = await decide(store, command, { type: 'AddSshKey', data: AddSshKey.schema.parse(command.data) });
  if (!outcome.ok) return { ok: false, error: outcome.error };
  const added = outcome.events.find((e): e is Extract<SshKeyEvent, { type: 'SshKeyAdded' }> => e.type === 'SshKeyAdded')!;
  return {
    ok: true,
    checkpoint: outcome.checkpoint,
    result: { id: added.data.keyId, name: added.data.name, public_key: added.data.publicKey, fingerprint: added.data.fingerprint, created_at: added.data.addedAt },
  };
}

export async function handleRemoveSshKey(store: EventStore, command: CommandEnvelope<RemoveData>): Promise<CommandReply<{ id: string; deleted: true; message: string }>> {
  const data = RemoveSshKey.schema.parse(command.data);
  const outcome = await decide(store, command, { type: 'RemoveSshKey', data });
  if (!outcome.ok) return { ok: false, error: outcome.error };
  return { ok: true, checkpoint: outcome.checkpoint, result: { id: data.keyId, deleted: true, message: 'SSH key removed from account.' } };
}
