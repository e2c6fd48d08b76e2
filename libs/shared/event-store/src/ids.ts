import { hash, randomUUID } from 'node:crypto';

const VOLT_NAMESPACE = '6f1c2b1e-8f0e-4d59-9a43-5a0c1f8a7c21';
const namespaceBytes = (namespace: string) => Buffer.from(namespace.replace(/-/g, ''), 'hex');
const VOLT_NAMESPACE_BYTES = namespaceBytes(VOLT_NAMESPACE);

/**
 * A name-based (v5) UUID: the same name always gives the same id. Event ids derived
 * from a command id make a redelivered command's append an idempotent no-op.
 */
export function uuidFromName(name: string, namespace = VOLT_NAMESPACE): string {
  const space = namespace === VOLT_NAMESPACE ? VOLT_NAMESPACE_BYTES : namespaceBytes(namespace);
  // The one-shot hash: a Hash object per call cost about as much as a decision's own work (profiled).
  const bytes = hash('sha1', Buffer.concat([space, Buffer.from(name)]), 'buffer').subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x50;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export const newId = (): string => randomUUID();
