import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KyselyPlugin } from 'kysely';
import { Client } from 'pg';
import { counter } from '@volt/telemetry';
import { createTestDatabase, type TestDatabase } from '@volt/testing';
import { identityMigrations } from '../migrations';
import { AuditLog, type AuditRecord, queryAuditLog } from './audit-log';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase([identityMigrations]);
});
afterAll(() => t.drop());

const read = (overrides: Partial<AuditRecord>): AuditRecord => ({
  tenantId: 'org_audit',
  actor: { type: 'api_key', id: 'ak_1' },
  method: 'GET',
  route: '/api/volt/ssh-keys',
  resourceId: null,
  status: 200,
  requestId: 'req-1',
  traceId: null,
  clientIp: '127.0.0.1',
  occurredAt: new Date('2026-11-23T10:00:00.123Z'),
  ...overrides,
});

const all = async (tenantId: string) => (await queryAuditLog(t.db, tenantId, { limit: 200 })).entries.reverse();

describe('AuditLog: read records batched through COPY', () => {
  it('stores every value exactly, whatever characters a client put in it', async () => {
    const tricky = ['tab\there', 'new\nline', 'carriage\rreturn', 'back\\slash', '\\N', 'both\\\t\n', 'ünïcödé ✓ 🚀', "quote ' and \"", ''];
    const audit = new AuditLog(t.db, (error) => { throw error; });
    tricky.forEach((value, i) =>
      audit.recordLater(read({ tenantId: 'org_chars', resourceId: value, requestId: `req-${i}`, route: `/r/${value}`, traceId: i % 2 ? null : 'a'.repeat(32) })),
    );
    audit.recordLater(read({ tenantId: 'org_chars', resourceId: 'nul\u0000byte', requestId: 'req-nul', clientIp: null }));
    await audit.flush();

    const entries = await all('org_chars');
    expect(entries.map((e) => e.resource_id)).toEqual([...tricky, 'nulbyte']);
    expect(entries.map((e) => e.route)).toEqual([...tricky.map((v) => `/r/${v}`), '/api/volt/ssh-keys']);
    expect(entries.map((e) => e.trace_id)).toEqual([...tricky.map((_, i) => (i % 2 ? null : 'a'.repeat(32))), null]);
    expect(entries[entries.length - 1].client_ip).toBeNull();
    expect(entries.every((e) => e.occurred_at === '2026-11-23T10:00:00.123Z' && e.status === 200 && e.actor.id === 'ak_1')).toBe(true);
  });

  it('writes a batch larger than one flush in order, and nothing twice', async () => {
    const audit = new AuditLog(t.db, (error) => { throw error; });
    for (let i = 0; i < 5_200; i++) audit.recordLater(read({ tenantId: 'org_many', requestId: `req-${i}` }));
    await audit.flush();
    const rows = await t.db.selectFrom('gw_audit_log').select(['request_id']).where('tenant_id', '=', 'org_many').orderBy('id').execute();
    expect(rows.map((r) => r.request_id)).toEqual(Array.from({ length: 5_200 }, (_, i) => `req-${i}`));
  });

  it('reports a batch PostgreSQL refused and keeps working afterwards', async () => {
    const errors: unknown[] = [];
    const audit = new AuditLog(t.db, (error) => errors.push(error));
    audit.recordLater(read({ tenantId: 'org_refused', status: Number.NaN }));
    await audit.flush();
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/integer/);
    expect(await all('org_refused')).toEqual([]);

    audit.recordLater(read({ tenantId: 'org_refused', requestId: 'after' }));
    await audit.flush();
    expect((await all('org_refused')).map((e) => e.request_id)).toEqual(['after']);
  });

  it('holds a bounded number of read records while PostgreSQL does not take them, counting those it leaves out', async () => {
    const droppedTotal = async () => (await counter('volt_audit_reads_dropped_total', '').get()).values[0]?.value ?? 0;
    const before = await droppedTotal();
    const errors: unknown[] = [];
    const audit = new AuditLog(t.db, (error) => errors.push(error), 250, 12_000);
    // Another session holds the table: every COPY waits, as it would on a hung server.
    const blocker = new Client({ connectionString: t.url });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE gw_audit_log IN ACCESS EXCLUSIVE MODE');
    try {
      for (let i = 0; i < 20_000; i++) audit.recordLater(read({ tenantId: 'org_backlog', requestId: `b-${i}` }));
      expect((await droppedTotal()) - before).toBe(8_000);
      expect(errors).toHaveLength(1);
      expect(String(errors[0])).toMatch(/12000 read records are waiting/);
    } finally {
      await blocker.query('COMMIT');
      await blocker.end();
    }
    await audit.flush();
    const rows = await t.db.selectFrom('gw_audit_log').select(['request_id']).where('tenant_id', '=', 'org_backlog').orderBy('id').execute();
    expect(rows.map((r) => r.request_id)).toEqual(Array.from({ length: 12_000 }, (_, i) => `b-${i}`));
    // Written, they make room again: the next reads are kept, and no new warning is logged.
    audit.recordLater(read({ tenantId: 'org_backlog', requestId: 'after' }));
    await audit.flush();
    const { count } = await t.db.selectFrom('gw_audit_log').select((eb) => eb.fn.countAll<string>().as('count')).where('tenant_id', '=', 'org_backlog').executeTakeFirstOrThrow();
    expect(Number(count)).toBe(12_001);
    expect((await all('org_backlog')).at(-1)?.request_id).toBe('after');
    expect(errors).toHaveLength(1);
  });
});

describe('AuditLog: write records, committed before they resolve', () => {
  it('stores concurrent records, each resolved once it is committed, in fewer statements than records', async () => {
    let inserts = 0;
    const counting: KyselyPlugin = {
      transformQuery: (args) => {
        if (args.node.kind === 'InsertQueryNode') inserts++;
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    const audit = new AuditLog(t.db.withPlugin(counting));
    const stored = new Set<string>();
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        audit.record(read({ tenantId: 'org_writes', method: 'POST', requestId: `w-${i}` })).then(async () => {
          const [row] = await t.db.selectFrom('gw_audit_log').select('request_id').where('request_id', '=', `w-${i}`).execute();
          if (row) stored.add(row.request_id);
        }),
      ),
    );
    expect(stored.size).toBe(200);
    // The first goes alone; those that arrived meanwhile share the next INSERT.
    expect(inserts).toBeLessThan(10);
  });

  it('fails only the record the table refuses, not those committed with it', async () => {
    const audit = new AuditLog(t.db);
    const outcomes = await Promise.allSettled([
      audit.record(read({ tenantId: 'org_mixed', method: 'POST', requestId: 'ok-1' })),
      audit.record(read({ tenantId: 'org_mixed', method: 'POST', requestId: 'ok-2' })),
      audit.record(read({ tenantId: 'org_mixed', method: 'POST', requestId: 'bad', status: Number.NaN })),
      audit.record(read({ tenantId: 'org_mixed', method: 'POST', requestId: 'ok-3' })),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((await all('org_mixed')).map((e) => e.request_id).sort()).toEqual(['ok-1', 'ok-2', 'ok-3']);
  });
});
