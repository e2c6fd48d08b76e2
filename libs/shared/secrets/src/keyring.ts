import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

/** A secret at rest: AES-256-GCM under the key named `keyId`. */
export interface SealedSecret {
  keyId: string;
  iv: string;
  ciphertext: string;
  tag: string;
}

export class SecretKeyError extends Error {
  override readonly name = 'SecretKeyError';
}

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * The keys secrets are sealed with. The first key seals; every key opens, so a key
 * can be rotated by putting a new one first and keeping the old one until nothing
 * sealed with it remains.
 *
 * Written as `VOLT_SECRETS_KEY="k2:<base64 32 bytes>,k1:<base64 32 bytes>"`; a bare
 * base64 key is named `k1`.
 */
export class Keyring {
  private readonly keys: Map<string, Buffer>;
  readonly activeKeyId: string;
  /** `digest`'s key, derived from the active key on first use. */
  private digestKey: Buffer | undefined;

  private constructor(keys: Map<string, Buffer>, active: string) {
    this.keys = keys;
    this.activeKeyId = active;
  }

  static parse(spec: string): Keyring {
    const keys = new Map<string, Buffer>();
    let active: string | undefined;
    for (const part of spec.split(',').map((p) => p.trim()).filter(Boolean)) {
      const [id, encoded] = part.includes(':') ? (part.split(':', 2) as [string, string]) : ['k1', part];
      if (!KEY_ID.test(id)) throw new SecretKeyError(`key id "${id}" must be 1-32 letters, digits, "_" or "-"`);
      const key = Buffer.from(encoded, 'base64');
      if (key.length !== 32) throw new SecretKeyError(`key "${id}" must be 32 bytes of base64 (got ${key.length})`);
      if (keys.has(id)) throw new SecretKeyError(`key id "${id}" appears twice`);
      keys.set(id, key);
      active ??= id;
    }
    if (!active) throw new SecretKeyError('no key given');
    return new Keyring(keys, active);
  }

  /** A fresh random key in the format parse() reads. */
  static generate(keyId = 'k1'): string {
    return `${keyId}:${randomBytes(32).toString('base64')}`;
  }

  /**
   * A keyed fingerprint (HMAC-SHA256, hex) of text that may hold a secret, such as a request body
   * with a registry password: equal for equal text, but no use for guessing the secret without
   * the key, as a plain hash would be. Keyed by the active key (a key derived from it, so the
   * sealing key is used for nothing else): after a rotation, fingerprints differ from before.
   */
  digest(text: string): string {
    this.digestKey ??= Buffer.from(hkdfSync('sha256', this.keys.get(this.activeKeyId)!, Buffer.alloc(0), 'volt:digest', 32));
    return createHmac('sha256', this.digestKey).update(text).digest('hex');
  }

  /** `aad` binds the ciphertext to its owner (e.g. tenant and credential id): moved elsewhere, it will not open. */
  seal(plaintext: string, aad: string): SealedSecret {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.activeKeyId)!, iv);
    cipher.setAAD(Buffer.from(aad));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { keyId: this.activeKeyId, iv: iv.toString('base64'), ciphertext: ciphertext.toString('base64'), tag: cipher.getAuthTag().toString('base64') };
  }

  open(sealed: SealedSecret, aad: string): string {
    const key = this.keys.get(sealed.keyId);
    if (!key) throw new SecretKeyError(`secret was sealed with key "${sealed.keyId}", which is not in VOLT_SECRETS_KEY`);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'));
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    try {
      return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretKeyError('secret does not open: wrong key, or it was altered or moved');
    }
  }
}
