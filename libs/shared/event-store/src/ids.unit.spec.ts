import { describe, expect, it } from 'vitest';
import { uuidFromName } from './ids';

// Event ids made from command ids must never change between versions: a command redelivered
// across an upgrade would otherwise append its events a second time.
describe('uuidFromName', () => {
  it('is RFC 4122 version 5 (the RFC’s DNS example)', () => {
    expect(uuidFromName('python.org', '6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe('886313e1-3b8a-5372-9b90-0c9aee199e5d');
  });

  it('gives the ids it always gave in Volt’s namespace, for any characters', () => {
    expect(uuidFromName('cmd-1:0')).toBe('10598d30-d0a5-5aa9-a528-4231abab11aa');
    expect(uuidFromName('ünïcode ✓')).toBe('e416535e-64df-585f-9e2d-7d9e0ce5a3a6');
  });
});
