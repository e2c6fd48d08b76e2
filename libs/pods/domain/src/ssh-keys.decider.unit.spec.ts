import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { given } from '@volt/testing';
import { sshKeysDecider, type SshKeyEvent } from './ssh-keys.decider';

function generateKey(type: 'ed25519' | 'rsa' | 'ecdsa'): { line: string; fingerprint: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'volt-key-'));
  const file = path.join(dir, 'id');
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'me@laptop', '-f', file]);
  const fingerprint = execFileSync('ssh-keygen', ['-lf', `${file}.pub`]).toString().split(' ')[1];
  return { line: readFileSync(`${file}.pub`, 'utf8').trim(), fingerprint };
}

const at = '2026-11-22T10:00:00.000Z';

describe('SSH keys decider', () => {
  it.each(['ed25519', 'rsa', 'ecdsa'] as const)('adds a %s key with the fingerprint ssh-keygen -lf prints', (type) => {
    const key = generateKey(type);
    const outcome = given(sshKeysDecider).when({ type: 'AddSshKey', data: { keyId: 'key_a', name: 'laptop', publicKey: key.line, requestedAt: at } }).outcome;
    expect(outcome).toEqual([
      {
        type: 'SshKeyAdded',
        data: expect.objectContaining({ keyId: 'key_a', name: 'laptop', fingerprint: key.fingerprint, addedAt: at }),
      },
    ]);
    // The comment (often user@host) is not kept.
    expect((outcome as SshKeyEvent[])[0].data).toMatchObject({ publicKey: key.line.split(' ').slice(0, 2).join(' ') });
  });

  it('refuses the same key twice in one organization, even under another name or comment', () => {
    const key = generateKey('ed25519');
    const added = given(sshKeysDecider).when({ type: 'AddSshKey', data: { keyId: 'key_a', name: 'one', publicKey: key.line, requestedAt: at } }).outcome as SshKeyEvent[];
    given(sshKeysDecider, added)
      .when({ type: 'AddSshKey', data: { keyId: 'key_b', name: 'two', publicKey: `${key.line} other-comment`, requestedAt: at } })
      .thenError('DUPLICATE_SSH_KEY');
  });

  it('lets a removed key be added again', () => {
    const key = generateKey('ed25519');
    const added = given(sshKeysDecider).when({ type: 'AddSshKey', data: { keyId: 'key_a', name: 'one', publicKey: key.line, requestedAt: at } }).outcome as SshKeyEvent[];
    const removed: SshKeyEvent = { type: 'SshKeyRemoved', data: { keyId: 'key_a', fingerprint: key.fingerprint, removedAt: at } };
    given(sshKeysDecider, added).when({ type: 'RemoveSshKey', data: { keyId: 'key_a', requestedAt: at } }).then([removed]);
    const again = given(sshKeysDecider, [...added, removed]).when({ type: 'AddSshKey', data: { keyId: 'key_c', name: 'one', publicKey: key.line, requestedAt: at } });
    expect(Array.isArray(again.outcome)).toBe(true);
  });

  it('answers NOT_FOUND for removing a key that is not there', () => {
    given(sshKeysDecider).when({ type: 'RemoveSshKey', data: { keyId: 'key_zz', requestedAt: at } }).thenError('NOT_FOUND');
  });

  it('refuses unsupported and forged keys', () => {
    given(sshKeysDecider).when({ type: 'AddSshKey', data: { keyId: 'key_a', name: 'x', publicKey: 'ssh-dss AAAAB3NzaC1kc3MAAACBAP', requestedAt: at } }).thenError('VALIDATION_ERROR');
    // An ed25519 blob declared as RSA.
    const key = generateKey('ed25519');
    const forged = `ssh-rsa ${key.line.split(' ')[1]}`;
    given(sshKeysDecider).when({ type: 'AddSshKey', data: { keyId: 'key_a', name: 'x', publicKey: forged, requestedAt: at } }).thenError('VALIDATION_ERROR');
  });
});
