import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Keyring, SecretKeyError } from './keyring';

describe('Keyring', () => {
  const k1 = Keyring.generate('k1');
  const k2 = Keyring.generate('k2');

  it('seals with the first key and opens with any key it holds', () => {
    const old = Keyring.parse(k1);
    const sealed = old.seal('hunter2', 'org_a:cred_1');
    expect(sealed.keyId).toBe('k1');
    expect(sealed.ciphertext).not.toContain('hunter2');
    const rotated = Keyring.parse(`${k2},${k1}`);
    expect(rotated.open(sealed, 'org_a:cred_1')).toBe('hunter2');
    expect(rotated.seal('x', 'a').keyId).toBe('k2');
  });

  it('refuses a secret moved to another owner, altered, or sealed with an unknown key', () => {
    const ring = Keyring.parse(k1);
    const sealed = ring.seal('hunter2', 'org_a:cred_1');
    expect(() => ring.open(sealed, 'org_b:cred_1')).toThrow(SecretKeyError);
    const flipped = Buffer.from(sealed.ciphertext, 'base64');
    flipped[0] ^= 1;
    expect(() => ring.open({ ...sealed, ciphertext: flipped.toString('base64') }, 'org_a:cred_1')).toThrow(SecretKeyError);
    expect(() => Keyring.parse(k2).open(sealed, 'org_a:cred_1')).toThrow(/not in VOLT_SECRETS_KEY/);
  });

  it('names what is wrong with a malformed key setting', () => {
    expect(() => Keyring.parse('')).toThrow(/no key/);
    expect(() => Keyring.parse('k1:c2hvcnQ=')).toThrow(/32 bytes/);
    expect(() => Keyring.parse(`${k1},${k1}`)).toThrow(/twice/);
    expect(Keyring.parse(k1.split(':')[1]).activeKeyId).toBe('k1');
  });

  it('fingerprints text with a key: the same for the same text and key, useless without the key', () => {
    const text = 'POST /api/volt/docker-credentials\n{"password":"hunter2"}';
    const ring = Keyring.parse(k1);
    expect(ring.digest(text)).toMatch(/^[0-9a-f]{64}$/);
    expect(ring.digest(text)).toBe(Keyring.parse(k1).digest(text));
    expect(ring.digest(`${text} `)).not.toBe(ring.digest(text));
    expect(Keyring.parse(k2).digest(text)).not.toBe(ring.digest(text));
    expect(ring.digest(text)).not.toBe(createHash('sha256').update(text).digest('hex'));
  });
});
