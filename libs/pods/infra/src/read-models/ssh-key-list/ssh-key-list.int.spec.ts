import { afterAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { EventStore, eventStoreMigrations, migrateToLatest } from '@volt/event-store';
import { createTestDatabase, migrationsBefore, testMetadata, type TestDatabase } from '@volt/testing';
import { sshKeysStream } from '@volt/pods-contracts';
import { podsMigrations } from '../../migrations';
import { sshKeyListProjection } from './projection';
import { listSshKeys } from './query';

let t: TestDatabase | undefined;
afterAll(() => t?.drop());

const key = (keyId: string, n: number) => ({
  keyId,
  name: `key ${n}`,
  publicKey: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${String(n).padStart(43, 'A')}`,
  keyType: 'ssh-ed25519',
  fingerprint: `SHA256:fingerprint${n}`,
  addedAt: `2026-11-30T10:00:0${n}.000Z`,
});

describe('the SSH key list, upgraded to keep removed keys', () => {
  it('puts back the keys removed before the upgrade, marked removed, exactly as a rebuild makes them, and lists only the others', async () => {
    t = await createTestDatabase([migrationsBefore('2026-12-01T0700-pods-ssh-keys-removed-kept', eventStoreMigrations, podsMigrations)]);
    const store = new EventStore(t.db);
    const event = (type: string, data: unknown) => ({ type, data, metadata: testMetadata('org_keys'), occurredAt: '2026-11-30T10:00:00.000Z' });
    await store.append(sshKeysStream('org_keys'), [event('SshKeyAdded', key('key_kept', 1)), event('SshKeyAdded', key('key_gone', 2))], { expectedVersion: 0 });
    await store.append(sshKeysStream('org_keys'), [event('SshKeyRemoved', { keyId: 'key_gone', fingerprint: 'SHA256:fingerprint2', removedAt: '2026-11-30T11:00:00.000Z' })], { expectedVersion: 2 });
    // What the read model held then: the removed key's row deleted.
    const { keyId, publicKey, keyType, addedAt, ...kept } = key('key_kept', 1);
    await t.db
      .insertInto('pods_ssh_keys')
      .values({ tenant_id: 'org_keys', key_id: keyId, public_key: publicKey, key_type: keyType, created_at: addedAt, ...kept })
      .execute();

    await migrateToLatest(t.db, eventStoreMigrations, podsMigrations);
    const rows = async () => (await sql<{ row: string }>`SELECT row_to_json(k)::text AS row FROM pods_ssh_keys k ORDER BY key_id`.execute(t!.db)).rows.map((r) => JSON.parse(r.row));
    const upgraded = await rows();
    expect(upgraded).toMatchObject([
      { key_id: 'key_gone', removed_at: expect.stringMatching(/^2026-11-30T11:00:00/) },
      { key_id: 'key_kept', removed_at: null },
    ]);
    expect((await listSshKeys(t.db, 'org_keys', { limit: 10, offset: 0 })).keys.map((k) => k.id)).toEqual(['key_kept']);

    // Rebuilt from the store by today's projection: the same rows.
    await t.db.deleteFrom('pods_ssh_keys').execute();
    const events = await store.readStream(sshKeysStream('org_keys'));
    await t.db.transaction().execute((trx) => sshKeyListProjection.apply(trx, events));
    expect(await rows()).toEqual(upgraded);
  });
});
