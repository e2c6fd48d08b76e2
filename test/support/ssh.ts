import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A real key pair from ssh-keygen: its public line and the fingerprint `ssh-keygen -lf` prints. */
export function generateSshKey(type: 'ed25519' | 'rsa' | 'ecdsa' = 'ed25519'): { line: string; fingerprint: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'volt-key-'));
  const file = path.join(dir, 'id');
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'dev@laptop', '-f', file]);
  const fingerprint = execFileSync('ssh-keygen', ['-lf', `${file}.pub`]).toString().split(' ')[1];
  return { line: readFileSync(`${file}.pub`, 'utf8').trim(), fingerprint };
}
