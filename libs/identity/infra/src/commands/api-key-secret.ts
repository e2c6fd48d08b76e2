import { hash, randomInt } from 'node:crypto';
import { API_KEY_PREFIX } from '@volt/identity-contracts';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** n characters of base62, each from the CSPRNG without modulo bias. */
export function randomBase62(n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}

/** The digest a key is stored and looked up by (on every request: the one-shot hash is a third of createHash's cost). */
export const hashApiKey = (secret: string) => hash('sha256', secret, 'hex');

/** Seed 000's preview: `volt_...` and the secret's last four characters. */
export const previewOf = (secret: string) => `volt_...${secret.slice(-4)}`;

/** A new secret: the prefix and 43 base62 characters (256 bits). Returned once, then only its hash is kept. */
export function generateApiKey(): { secret: string; hash: string; preview: string } {
  const secret = `${API_KEY_PREFIX}${randomBase62(43)}`;
  return { secret, hash: hashApiKey(secret), preview: previewOf(secret) };
}

/** A key given by an operator (VOLT_DEMO_API_KEY) must look like one we would make. */
export function isWellFormedApiKey(secret: string): boolean {
  return secret.startsWith(API_KEY_PREFIX) && /^[A-Za-z0-9]{32,128}$/.test(secret.slice(API_KEY_PREFIX.length));
}

export const newId = (prefix: string) => `${prefix}_${randomBase62(16)}`;
