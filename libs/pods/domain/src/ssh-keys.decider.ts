import { createHash } from 'node:crypto';
import { domainError, type MessageOf } from '@volt/contracts';
import { assertNever, type Decider } from '@volt/domain';
import { parseSshPublicKey, type AddSshKey, type RemoveSshKey, type SshKeyAdded, type SshKeyRemoved } from '@volt/pods-contracts';

export type SshKeyCommand = MessageOf<typeof AddSshKey> | MessageOf<typeof RemoveSshKey>;
export type SshKeyEvent = MessageOf<typeof SshKeyAdded> | MessageOf<typeof SshKeyRemoved>;

/** One organization's SSH keys: id → fingerprint. */
export interface SshKeysState {
  keys: Map<string, string>;
}

/** As `ssh-keygen -lf` prints it: SHA256, then the unpadded base64 of the key blob's digest. */
export function sshFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

export const sshKeysDecider: Decider<SshKeyCommand, SshKeyEvent, SshKeysState> = {
  initialState: () => ({ keys: new Map() }),

  evolve(state, event) {
    const keys = new Map(state.keys);
    switch (event.type) {
      case 'SshKeyAdded':
        keys.set(event.data.keyId, event.data.fingerprint);
        return { keys };
      case 'SshKeyRemoved':
        keys.delete(event.data.keyId);
        return { keys };
      default:
        return assertNever(event);
    }
  },

  decide(command, state) {
    switch (command.type) {
      case 'AddSshKey': {
        const parsed = parseSshPublicKey(command.data.publicKey);
        if (!parsed.ok) {
          return domainError('VALIDATION_ERROR', parsed.message, [{ field: 'public_key', rule: parsed.rule, message: parsed.message }]);
        }
        const fingerprint = sshFingerprint(parsed.blob);
        if ([...state.keys.values()].includes(fingerprint)) {
          return domainError('DUPLICATE_SSH_KEY', `This SSH key is already on your account (${fingerprint}).`);
        }
        if (state.keys.has(command.data.keyId)) return domainError('CONFLICT', `SSH key ${command.data.keyId} already exists.`);
        // Stored without the comment, normalised to "<type> <base64>": the comment is often a user@host.
        const publicKey = `${parsed.type} ${parsed.blob.toString('base64')}`;
        return [
          {
            type: 'SshKeyAdded',
            data: { keyId: command.data.keyId, name: command.data.name, publicKey, keyType: parsed.type, fingerprint, addedAt: command.data.requestedAt },
          },
        ];
      }
      case 'RemoveSshKey': {
        const fingerprint = state.keys.get(command.data.keyId);
        if (!fingerprint) return domainError('NOT_FOUND', 'SSH key not found.');
        return [{ type: 'SshKeyRemoved', data: { keyId: command.data.keyId, fingerprint, removedAt: command.data.requestedAt } }];
      }
      default:
        return assertNever(command);
    }
  },
};
