import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest } from '@volt/event-store';
import { createTestDatabase, migrationsBefore, type TestDatabase } from '@volt/testing';
import { identityMigrations } from '../migrations';
import { IN_FLIGHT_TAKEOVER_SECONDS, IdempotencyStore } from './idempotency-store';

let t: TestDatabase;
let store: IdempotencyStore;
beforeAll(async () => {
  t = await createTestDatabase([identityMigrations]);
  store = new IdempotencyStore(t.db);
});
afterAll(() => t.drop());

describe('IdempotencyStore', () => {
  it('lets exactly one of many concurrent first requests start', async () => {
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => store.begin('org_a', 'k-race', 'h1')));
    expect(outcomes.filter((o) => o.kind === 'started')).toHaveLength(1);
    expect(outcomes.filter((o) => o.kind === 'in_flight')).toHaveLength(19);
  });

  it('replays a completed response, refuses another request under the same key, and keeps organizations apart', async () => {
    expect(await store.begin('org_a', 'k1', 'h1')).toEqual({ kind: 'started', attempt: 0 });
    await store.complete('org_a', 'k1', 201, '{"id":"x"}');
    expect(await store.begin('org_a', 'k1', 'h1')).toEqual({ kind: 'replay', status: 201, body: '{"id":"x"}' });
    expect(await store.begin('org_a', 'k1', 'h2')).toEqual({ kind: 'reused' });
    expect(await store.begin('org_b', 'k1', 'h2')).toEqual({ kind: 'started', attempt: 0 });
  });

  it('runs a request whose attempt failed on our side again when retried, as a new attempt', async () => {
    expect(await store.begin('org_a', 'k5xx', 'h1')).toEqual({ kind: 'started', attempt: 0 });
    await store.abandon('org_a', 'k5xx');
    expect(await store.begin('org_a', 'k5xx', 'h1')).toEqual({ kind: 'started', attempt: 1 });
    expect(await store.begin('org_a', 'k5xx', 'h1')).toEqual({ kind: 'in_flight' });
    await store.abandon('org_a', 'k5xx');
    // Of many retries at once, one runs.
    const retries = await Promise.all(Array.from({ length: 10 }, () => store.begin('org_a', 'k5xx', 'h1')));
    expect(retries.filter((r) => r.kind === 'started')).toEqual([{ kind: 'started', attempt: 2 }]);
    await store.complete('org_a', 'k5xx', 201, '{}');
    expect(await store.begin('org_a', 'k5xx', 'h1')).toEqual({ kind: 'replay', status: 201, body: '{}' });
  });

  it('takes over an attempt whose process died, only for the same request, and starts again after 24 hours', async () => {
    expect((await store.begin('org_a', 'kdead', 'h1')).kind).toBe('started');
    expect((await store.begin('org_a', 'kdead', 'h1')).kind).toBe('in_flight');
    await sql`UPDATE gw_idempotency SET started_at = now() - make_interval(secs => ${IN_FLIGHT_TAKEOVER_SECONDS + 1}) WHERE key = 'kdead'`.execute(t.db);
    expect((await store.begin('org_a', 'kdead', 'h2')).kind).toBe('reused');
    // The same attempt again: its commands keep their ids, so what the dead one did is not done twice.
    expect(await store.begin('org_a', 'kdead', 'h1')).toEqual({ kind: 'started', attempt: 0 });

    await store.complete('org_a', 'kdead', 200, '{}');
    await sql`UPDATE gw_idempotency SET expires_at = now() - interval '1 second' WHERE key = 'kdead'`.execute(t.db);
    expect(await store.begin('org_a', 'kdead', 'h9')).toEqual({ kind: 'started', attempt: 1 });
    await store.prune();
  });
});

describe('the migration that takes API key secrets out of stored replays', () => {
  it('turns a stored key creation into the answer that its secret cannot be shown again, and leaves other replays alone', async () => {
    const old = await createTestDatabase([migrationsBefore('2026-12-01T0500-idempotency-without-key-secrets', identityMigrations)]);
    try {
      const secret = 'volt_sk_live_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
      const oldStore = new IdempotencyStore(old.db);
      await oldStore.begin('org_a', 'made-key', 'h1');
      await oldStore.complete('org_a', 'made-key', 201, JSON.stringify({ id: 'ak_1', name: 'ci', key: secret, message: 'Store this key securely.' }));
      await oldStore.begin('org_a', 'made-template', 'h2');
      await oldStore.complete('org_a', 'made-template', 201, '{"id":"tpl_1"}');
      await migrateToLatest(old.db, identityMigrations);
      const replay = await oldStore.begin('org_a', 'made-key', 'h1');
      expect(replay).toMatchObject({ kind: 'replay', status: 409 });
      expect(replay.kind === 'replay' && JSON.parse(replay.body)).toEqual({ error: true, status: 409, code: 'CONFLICT', message: expect.stringContaining('its secret cannot be shown again') });
      const left = await sql<{ n: number }>`SELECT count(*)::int AS n FROM gw_idempotency WHERE body LIKE ${`%${secret}%`}`.execute(old.db);
      expect(left.rows[0].n).toBe(0);
      expect(await oldStore.begin('org_a', 'made-template', 'h2')).toEqual({ kind: 'replay', status: 201, body: '{"id":"tpl_1"}' });
    } finally {
      await old.drop();
    }
  });
});
