/** Key types Volt accepts, as they appear in an OpenSSH public key line. */
export const SSH_KEY_TYPES = [
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
] as const;
export type SshKeyType = (typeof SSH_KEY_TYPES)[number];

export type ParsedSshKey =
  | { ok: true; type: SshKeyType; blob: Buffer; comment: string | undefined }
  | { ok: false; rule: 'format' | 'unsupported_type' | 'invalid_base64' | 'type_mismatch'; message: string };

/**
 * Reads an OpenSSH public key line (`<type> <base64 blob> [comment]`). The blob must
 * decode and begin with the same type name it is declared as, as sshd checks.
 */
export function parseSshPublicKey(line: string): ParsedSshKey {
  const parts = line.trim().split(/\s+/);
  if (parts.length < 2) return { ok: false, rule: 'format', message: 'must be "<type> <base64 key> [comment]"' };
  const [type, b64, ...rest] = parts;
  if (!(SSH_KEY_TYPES as readonly string[]).includes(type)) {
    return { ok: false, rule: 'unsupported_type', message: `unsupported key type "${type.slice(0, 40)}"; use one of ${SSH_KEY_TYPES.join(', ')}` };
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) {
    return { ok: false, rule: 'invalid_base64', message: 'the key body is not valid base64' };
  }
  const blob = Buffer.from(b64, 'base64');
  if (blob.length < 4) return { ok: false, rule: 'invalid_base64', message: 'the key body is too short' };
  const nameLength = blob.readUInt32BE(0);
  const embedded = blob.subarray(4, 4 + nameLength).toString('latin1');
  if (nameLength > 64 || embedded !== type) {
    return { ok: false, rule: 'type_mismatch', message: `the key body is not a ${type} key` };
  }
  return { ok: true, type: type as SshKeyType, blob, comment: rest.length ? rest.join(' ') : undefined };
}
