import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentSchemaVersion } from '@volt/contracts';
import { EventStore, eventStoreMigrations } from '@volt/event-store';
import { ProjectionRunner, projectionMigrations } from '@volt/projections';
import { SYSTEM_ACCOUNTS, arrearsAccount, customerAccount, ledgerJournal, usdToMicros } from '@volt/ledger-contracts';
import { createTestDatabase, tableScans, type TestDatabase } from '@volt/testing';
import { Ledger } from './ledger';
import { ledgerMigrations } from './migrations';
import { ledgerBalancesProjection } from './read-models/projections';

let t: TestDatabase;
let ledger: Ledger;
/** Four instances, as four ledger processes would be: requests race across transactions, not only within a batch. */
let ledgers: Ledger[];
beforeAll(async () => {
  t = await createTestDatabase([eventStoreMigrations, projectionMigrations, ledgerMigrations]);
  ledger = new Ledger(t.db);
  ledgers = Array.from({ length: 4 }, () => new Ledger(t.db));
});
afterAll(() => t.drop());

let n = 0;
const fresh = () => `org_t${++n}${Math.random().toString(36).slice(2, 8)}`;
const deposit = (org: string, usd: number) => ledger.transfer({ id: `dep:${org}:${usd}:${Math.random()}`, debit: SYSTEM_ACCOUNTS.deposits, credit: customerAccount(org), amount: usdToMicros(usd) });
const total = async () => Number((await sql<{ s: string }>`SELECT coalesce(sum(balance), 0)::text AS s FROM ledger_accounts`.execute(t.db)).rows[0].s);

describe('ledger: transfers', () => {
  it('moves money once per id, refuses a reused id with other content, and never overdraws a customer', async () => {
    const org = fresh();
    expect(await deposit(org, 10)).toMatchObject({ ok: true, duplicate: false });
    const spend = { id: `spend:${org}:1`, debit: customerAccount(org), credit: SYSTEM_ACCOUNTS.revenue, amount: usdToMicros(4) };
    expect(await ledger.transfer(spend)).toEqual({ ok: true, id: spend.id, duplicate: false });
    expect(await ledger.transfer(spend)).toEqual({ ok: true, id: spend.id, duplicate: true });
    expect(await ledger.transfer({ ...spend, amount: usdToMicros(5) })).toMatchObject({ ok: false, code: 'CONFLICT' });
    expect(await ledger.transfer({ ...spend, id: `spend:${org}:2`, amount: usdToMicros(6.000001) })).toMatchObject({ ok: false, code: 'INSUFFICIENT_BALANCE' });
    expect(await ledger.account(customerAccount(org))).toEqual({ balance: usdToMicros(6), held: 0, available: usdToMicros(6) });
    expect(await total()).toBe(0);
    // One event per request that moved money, in the event store, tamper-evident like the rest.
    const journal = await new EventStore(t.db).readStream(ledgerJournal(new Date().toISOString().slice(0, 10)));
    const events = journal.filter((e) => (e.data as { transferId: string }).transferId === spend.id);
    expect(events.map((e) => [e.type, (e.data as { amount: number }).amount, e.tenantId])).toEqual([['TransferPosted', usdToMicros(4), org]]);
  });

  it('lets 100 concurrent $1 spends from $10 succeed exactly 10 times', async () => {
    const org = fresh();
    await deposit(org, 10);
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => ledgers[i % 4].transfer({ id: `race:${org}:${i}`, debit: customerAccount(org), credit: SYSTEM_ACCOUNTS.revenue, amount: usdToMicros(1) })),
    );
    expect(results.filter((r) => r.ok).length).toBe(10);
    expect(results.filter((r) => !r.ok).every((r) => !r.ok && r.code === 'INSUFFICIENT_BALANCE')).toBe(true);
    expect((await ledger.account(customerAccount(org))).balance).toBe(0);
    expect(await total()).toBe(0);
  });

  it('applies 20 concurrent copies of one request once', async () => {
    const org = fresh();
    await deposit(org, 10);
    const req = { id: `twin:${org}`, debit: customerAccount(org), credit: SYSTEM_ACCOUNTS.revenue, amount: usdToMicros(3) };
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => ledgers[i % 4].transfer(req)));
    expect(results.filter((r) => r.ok && !r.duplicate)).toHaveLength(1);
    expect(results.every((r) => r.ok)).toBe(true);
    expect((await ledger.account(customerAccount(org))).balance).toBe(usdToMicros(7));
  });
});

describe('ledger: batches of plain transfers (applied as sets)', () => {
  const journalIds = async (ids: string[]) => {
    const { rows } = await sql<{ id: string }>`SELECT data->>'transferId' AS id FROM es_events WHERE type = 'TransferPosted' AND data->>'transferId' = ANY(${ids})`.execute(t.db);
    return rows.map((r) => r.id).sort();
  };

  it('posts a whole batch at once, with one event each, ending where one by one would', async () => {
    const [a, b, c] = [fresh(), fresh(), fresh()];
    for (const org of [a, b, c]) await deposit(org, 10);
    const accounts = [a, b, c].map(customerAccount);
    // Sent in one tick, so they go to the database as one batch.
    const requests = Array.from({ length: 30 }, (_, i) => ({ id: `set:${a}:${i}`, debit: accounts[i % 3], credit: accounts[(i + 1) % 3], amount: 100_000 + i }));
    const results = await Promise.all(requests.map((r) => ledger.transfer(r)));
    expect(results.every((r) => r.ok && !r.duplicate)).toBe(true);
    const net = (k: number) => requests.reduce((s, r) => s + (r.credit === accounts[k] ? r.amount : 0) - (r.debit === accounts[k] ? r.amount : 0), 0);
    for (let k = 0; k < 3; k++) expect((await ledger.account(accounts[k])).balance).toBe(usdToMicros(10) + net(k));
    expect(await journalIds(requests.map((r) => r.id))).toEqual(requests.map((r) => r.id).sort());
    expect(await total()).toBe(0);
  });

  it('falls back to one by one when a customer in the batch is short, an id was seen before, or an id repeats', async () => {
    const [x, y] = [fresh(), fresh()];
    await deposit(x, 1);
    await deposit(y, 10);
    const seen = { id: `seen:${x}`, debit: customerAccount(y), credit: SYSTEM_ACCOUNTS.revenue, amount: 1000 };
    expect(await ledger.transfer(seen)).toMatchObject({ ok: true });
    const batch = [
      { id: `short:${x}:1`, debit: customerAccount(x), credit: SYSTEM_ACCOUNTS.revenue, amount: 600_000 },
      { id: `short:${x}:2`, debit: customerAccount(x), credit: SYSTEM_ACCOUNTS.revenue, amount: 600_000 },
      { id: `pay:${y}`, debit: customerAccount(y), credit: customerAccount(x), amount: 2_000_000 },
      seen,
      { ...seen, amount: 2000 },
      { id: `twice:${y}`, debit: customerAccount(y), credit: SYSTEM_ACCOUNTS.revenue, amount: 5 },
      { id: `twice:${y}`, debit: customerAccount(y), credit: SYSTEM_ACCOUNTS.revenue, amount: 5 },
    ];
    const results = await Promise.all(batch.map((r) => ledger.transfer(r)));
    expect(results.map((r) => (r.ok ? (r.duplicate ? 'duplicate' : 'posted') : r.code))).toEqual([
      'posted', // in order: x has 1.00 and spends 0.60
      'INSUFFICIENT_BALANCE', // then 0.40 is short of 0.60 (y's payment comes after it)
      'posted',
      'duplicate',
      'CONFLICT',
      'posted',
      'duplicate',
    ]);
    expect(await ledger.account(customerAccount(x))).toEqual({ balance: 400_000 + 2_000_000, held: 0, available: 2_400_000 });
    expect(await ledger.account(customerAccount(y))).toMatchObject({ balance: usdToMicros(10) - 1000 - 2_000_000 - 5 });
    expect(await journalIds([`short:${x}:1`, `short:${x}:2`, `pay:${y}`, `twice:${y}`])).toEqual([`pay:${y}`, `short:${x}:1`, `twice:${y}`]);
    expect(await total()).toBe(0);
  });

  it('lets four instances cross transfers between the same accounts at once without deadlock or overdraft', async () => {
    const [a, b] = [fresh(), fresh()];
    await deposit(a, 5);
    await deposit(b, 5);
    const [A, B] = [customerAccount(a), customerAccount(b)];
    const results = await Promise.all(
      Array.from({ length: 400 }, (_, i) => ledgers[i % 4].transfer({ id: `cross:${a}:${i}`, debit: i % 2 ? A : B, credit: i % 2 ? B : A, amount: 50_000 })),
    );
    // No deadlock surfaced (Promise.all would have rejected); a refusal is only ever for money.
    expect(results.every((r) => r.ok || r.code === 'INSUFFICIENT_BALANCE')).toBe(true);
    // The balances are exactly what the posted transfers add up to, and neither went below zero.
    const intoA = results.reduce((s, r, i) => s + (r.ok ? (i % 2 ? -50_000 : 50_000) : 0), 0);
    expect((await ledger.account(A)).balance).toBe(usdToMicros(5) + intoA);
    expect((await ledger.account(B)).balance).toBe(usdToMicros(5) - intoA);
    expect(Math.abs(intoA)).toBeLessThanOrEqual(usdToMicros(5));
    expect(await total()).toBe(0);
  });
});

describe('ledger: two transactions in flight per instance', () => {
  it('runs a capture or release (which must run alone) while both lanes are kept busy with transfers on other accounts', async () => {
    const org = fresh();
    const pairs = [fresh(), fresh()];
    await deposit(org, 10);
    for (const p of pairs) await deposit(p, 100);
    const hold = { id: `lane-hold:${org}`, debit: customerAccount(org), credit: SYSTEM_ACCOUNTS.revenue, amount: usdToMicros(1), expiresAt: new Date(Date.now() + 60_000).toISOString() };
    expect(await ledger.hold(hold)).toMatchObject({ ok: true });
    // Two streams of transfers on disjoint accounts keep both of the instance's lanes busy, their
    // batches overlapping: at no moment is nothing in flight unless the ledger makes room.
    let stop = false;
    let k = 0;
    const streams = pairs.flatMap((p) =>
      Array.from({ length: 16 }, async () => {
        while (!stop) await ledger.transfer({ id: `lane-busy:${p}:${k++}`, debit: customerAccount(p), credit: customerAccount(`${p}b`), amount: 1 });
      }),
    );
    await new Promise((r) => setTimeout(r, 100));
    const released = await Promise.race([ledger.release({ id: `lane-rel:${org}`, holdId: hold.id }), new Promise((r) => setTimeout(() => r('still waiting after 3 s'), 3000))]);
    stop = true;
    await Promise.all(streams);
    expect(released).toMatchObject({ ok: true });
    expect(k).toBeGreaterThan(32);
    expect(await ledger.account(customerAccount(org))).toEqual({ balance: usdToMicros(10), held: 0, available: usdToMicros(10) });
    expect(await total()).toBe(0);
  });
});

describe('ledger: fences', () => {
  it('refuses the requests of a writer whose fence a newer one advanced, and takes nothing of them', async () => {
    const org = fresh();
    await deposit(org, 10);
    const name = `fence-${org}`;
    const spend = (id: string, epoch: number) =>
      ledger.transfer({ id: `${org}:${id}`, debit: customerAccount(org), credit: SYSTEM_ACCOUNTS.revenue, amount: 1000, fence: { name, epoch } });
    const first = await ledger.advanceFence(name);
    expect(await spend('a', first)).toMatchObject({ ok: true, duplicate: false });
    const second = await ledger.advanceFence(name);
    expect(second).toBe(first + 1);
    expect(await spend('b', first)).toMatchObject({ ok: false, code: 'SUPERSEDED' });
    const charge = { id: `${org}:c`, debit: customerAccount(org), credit: SYSTEM_ACCOUNTS.revenue, amount: 1000, holdId: null };
    expect(await ledger.charge({ ...charge, fence: { name, epoch: first } })).toMatchObject({ ok: false, code: 'SUPERSEDED' });
    // A refused request took nothing, its id included: the current writer can post it.
    expect(await spend('b', second)).toMatchObject({ ok: true, duplicate: false });
    expect(await ledger.charge({ ...charge, fence: { name, epoch: second } })).toMatchObject({ ok: true, duplicate: false });
    // In one batch with others (plain transfers, which otherwise go as a set), only the superseded request is refused.
    const others = Array.from({ length: 5 }, (_, i) => ledger.transfer({ id: `${org}:o${i}`, debit: customerAccount(org), credit: SYSTEM_ACCOUNTS.revenue, amount: 100 }));
    const outcomes = await Promise.all([spend('d', first), spend('e', second), ...others]);
    expect(outcomes.map((o) => (o.ok ? 'ok' : o.code))).toEqual(['SUPERSEDED', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
    expect((await ledger.account(customerAccount(org))).balance).toBe(usdToMicros(10) - 4 * 1000 - 5 * 100);
    // A fence never advanced refuses every epoch.
    expect(await ledger.transfer({ id: `${org}:f`, debit: customerAccount(org), credit: SYSTEM_ACCOUNTS.revenue, amount: 1, fence: { name: `never-${org}`, epoch: 1 } })).toMatchObject({
      ok: false,
      code: 'SUPERSEDED',
    });
  });

  it('advances only once the transactions that checked the old epoch have committed', async () => {
    const name = `fence-wait-${fresh()}`;
    const epoch = await ledger.advanceFence(name);
    let advanced: number | undefined;
    let advancing: Promise<number> | undefined;
    await t.db.transaction().execute(async (trx) => {
      // What ledger_apply does for a fenced request: the fence's row locked for share until commit.
      await sql`SELECT 1 FROM ledger_fences WHERE name = ${name} AND epoch = ${epoch} FOR SHARE`.execute(trx);
      advancing = ledger.advanceFence(name).then((e) => (advanced = e));
      await new Promise((r) => setTimeout(r, 300));
      expect(advanced).toBeUndefined();
    });
    expect(await advancing).toBe(epoch + 1);
  });
});

describe('ledger: holds', () => {
  it('reserves, captures part, returns the rest; a closed hold cannot close again; holds expire', async () => {
    const org = fresh();
    await deposit(org, 10);
    const hold = { id: `hold:${org}`, debit: customerAccount(org), credit: SYSTEM_ACCOUNTS.revenue, amount: usdToMicros(8), expiresAt: new Date(Date.now() + 3600_000).toISOString() };
    expect(await ledger.hold(hold)).toMatchObject({ ok: true });
    expect(await ledger.account(customerAccount(org))).toEqual({ balance: usdToMicros(10), held: usdToMicros(8), available: usdToMicros(2) });
    expect(await ledger.transfer({ id: `over:${org}`, debit: customerAccount(org), credit: SYSTEM_ACCOUNTS.revenue, amount: usdToMicros(3) })).toMatchObject({ ok: false, code: 'INSUFFICIENT_BALANCE' });
    expect(await ledger.capture({ id: `cap:${org}`, holdId: hold.id, amount: usdToMicros(9) })).toMatchObject({ ok: false, code: 'VALIDATION_ERROR' });
    expect(await ledger.capture({ id: `cap:${org}`, holdId: hold.id, amount: usdToMicros(5) })).toMatchObject({ ok: true });
    expect(await ledger.account(customerAccount(org))).toEqual({ balance: usdToMicros(5), held: 0, available: usdToMicros(5) });
    expect(await ledger.release({ id: `rel:${org}`, holdId: hold.id })).toMatchObject({ ok: false, code: 'CONFLICT' });
    expect(await ledger.capture({ id: `cap:${org}`, holdId: hold.id, amount: usdToMicros(5) })).toMatchObject({ ok: true, duplicate: true });
    expect(await ledger.capture({ id: `cap:${org}:x`, holdId: `nope:${org}`, amount: 1 })).toMatchObject({ ok: false, code: 'NOT_FOUND' });

    const short = { ...hold, id: `short:${org}`, amount: usdToMicros(1), expiresAt: new Date(Date.now() - 1000).toISOString() };
    await ledger.hold(short);
    expect(await ledger.expireHolds()).toBeGreaterThanOrEqual(1);
    expect(await ledger.account(customerAccount(org))).toEqual({ balance: usdToMicros(5), held: 0, available: usdToMicros(5) });
    expect(await ledger.expireHolds()).toBe(0);
    expect(await total()).toBe(0);
  });
});

describe('ledger: expiring holds', () => {
  it('finds the pending holds through their index, not by reading every entry ever kept', async () => {
    const org = fresh();
    await Promise.all(Array.from({ length: 3000 }, (_, i) => ledger.transfer({ id: `many:${org}:${i}`, debit: SYSTEM_ACCOUNTS.deposits, credit: customerAccount(org), amount: 1 })));
    const due = { id: `hold:${org}`, debit: customerAccount(org), credit: SYSTEM_ACCOUNTS.revenue, amount: 10, expiresAt: new Date(Date.now() - 1000).toISOString() };
    expect(await ledger.hold(due)).toMatchObject({ ok: true });
    await sql`ANALYZE ledger_entries`.execute(t.db);
    const before = await tableScans(t.db, 'ledger_entries');
    expect(await ledger.expireHolds()).toBeGreaterThanOrEqual(1);
    const after = await tableScans(t.db, 'ledger_entries');
    expect(after.seq).toBe(before.seq);
    expect((await ledger.account(customerAccount(org))).held).toBe(0);
  });
});

describe('ledger: a hold released before it is placed', () => {
  it('is never placed: the release voids its id, and the placing that comes after is refused', async () => {
    const org = fresh();
    await deposit(org, 10);
    const hold = { id: `early:${org}`, debit: customerAccount(org), credit: SYSTEM_ACCOUNTS.revenue, amount: usdToMicros(8), expiresAt: new Date(Date.now() + 3600_000).toISOString() };
    expect(await ledger.release({ id: `release:${hold.id}`, holdId: hold.id })).toMatchObject({ ok: true, duplicate: false });
    expect(await ledger.release({ id: `release:${hold.id}`, holdId: hold.id })).toMatchObject({ ok: true, duplicate: true });
    expect(await ledger.hold(hold)).toMatchObject({ ok: false, code: 'CONFLICT' });
    expect(await ledger.account(customerAccount(org))).toEqual({ balance: usdToMicros(10), held: 0, available: usdToMicros(10) });
    expect(await ledger.expireHolds()).toBe(0);
    expect(await total()).toBe(0);
  });

  it('leaves nothing held whichever of the two comes first, when they race on four instances', async () => {
    const org = fresh();
    await deposit(org, 100);
    const ids = Array.from({ length: 40 }, (_, i) => `race:${org}:${i}`);
    const outcomes = await Promise.all(
      ids.map(async (id, i) => {
        const place = () => ledgers[i % 4].hold({ id, debit: customerAccount(org), credit: SYSTEM_ACCOUNTS.revenue, amount: usdToMicros(1), expiresAt: new Date(Date.now() + 3600_000).toISOString() });
        const release = () => ledgers[(i + 1) % 4].release({ id: `release:${id}`, holdId: id });
        // Half start with the placing, half with the release; all overlap.
        const [held, released] = i % 2 === 0 ? await Promise.all([place(), release()]) : (await Promise.all([release(), place()])).reverse();
        expect(released.ok).toBe(true);
        return held.ok ? 'placed, then released' : held.code;
      }),
    );
    expect(outcomes.every((o) => o === 'placed, then released' || o === 'CONFLICT')).toBe(true);
    expect(await ledger.account(customerAccount(org))).toEqual({ balance: usdToMicros(100), held: 0, available: usdToMicros(100) });
    const placed = outcomes.filter((o) => o !== 'CONFLICT').length;
    const closed = await sql<{ n: string }>`SELECT count(*)::text AS n FROM es_events WHERE type = 'HoldClosed' AND data->>'holdId' = ANY(${ids})`.execute(t.db);
    expect(Number(closed.rows[0].n)).toBe(placed);
    expect(await total()).toBe(0);
  });
});

type Op =
  | { kind: 'transfer'; from: number; to: number; amount: number }
  | { kind: 'hold'; from: number; amount: number }
  | { kind: 'capture'; hold: number; fraction: number }
  | { kind: 'release'; hold: number };

describe('ledger: randomized concurrent workloads (property-based)', () => {
  it('never lets a customer below what it holds, keeps the sum at zero, and closes every hold exactly once', async () => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('transfer' as const), from: fc.nat(4), to: fc.nat(4), amount: fc.integer({ min: 1, max: 4_000_000 }) }),
      fc.record({ kind: fc.constant('hold' as const), from: fc.nat(4), amount: fc.integer({ min: 1, max: 3_000_000 }) }),
      fc.record({ kind: fc.constant('capture' as const), hold: fc.nat(30), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }),
      fc.record({ kind: fc.constant('release' as const), hold: fc.nat(30) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 20, maxLength: 80 }), fc.integer({ min: 1, max: 16 }), async (ops, width) => {
        const run = fresh();
        const accounts = Array.from({ length: 5 }, (_, i) => customerAccount(`${run}a${i}`));
        for (const a of accounts) await ledger.transfer({ id: `seed:${a}`, debit: SYSTEM_ACCOUNTS.deposits, credit: a, amount: 5_000_000 });
        const holds: { id: string; amount: number }[] = [];
        const attempt = async (o: Op, i: number) => {
          const id = `${run}:${i}`;
          const ledger = ledgers[i % ledgers.length];
          if (o.kind === 'transfer') {
            await ledger.transfer({ id, debit: accounts[o.from], credit: o.from === o.to ? SYSTEM_ACCOUNTS.revenue : accounts[o.to], amount: o.amount });
          } else if (o.kind === 'hold') {
            const r = await ledger.hold({ id, debit: accounts[o.from], credit: SYSTEM_ACCOUNTS.revenue, amount: o.amount, expiresAt: new Date(Date.now() + 60_000).toISOString() });
            if (r.ok) holds.push({ id, amount: o.amount });
          } else if (holds.length > 0) {
            const h = holds[o.hold % holds.length];
            if (o.kind === 'capture') await ledger.capture({ id, holdId: h.id, amount: Math.floor(h.amount * o.fraction) });
            else await ledger.release({ id, holdId: h.id });
          }
        };
        // Run in waves of `width` concurrent requests; each wave races on the same accounts.
        for (let i = 0; i < ops.length; i += width) await Promise.all(ops.slice(i, i + width).map((o, k) => attempt(o, i + k)));
        // Whatever is still pending is released now: every hold must end closed exactly once.
        for (const h of holds) await ledger.release({ id: `${h.id}:end`, holdId: h.id });

        const rows = await t.db.selectFrom('ledger_accounts').select(['account_id', 'balance', 'held', 'kind']).where('account_id', 'in', accounts).execute();
        for (const r of rows) {
          expect(Number(r.held)).toBe(0);
          expect(Number(r.balance)).toBeGreaterThanOrEqual(0);
        }
        expect(await total()).toBe(0);
        const closes = await sql<{ hold_id: string; n: string }>`SELECT data->>'holdId' AS hold_id, count(*)::text AS n FROM es_events
          WHERE type = 'HoldClosed' AND data->>'holdId' = ANY(${holds.map((h) => h.id)}) GROUP BY 1`.execute(t.db);
        expect(closes.rows.length).toBe(holds.length);
        expect(closes.rows.every((r) => r.n === '1')).toBe(true);
      }),
      { numRuns: 25 },
    );
  });
});

describe('ledger: charges', () => {
  it('takes a charge from the resource’s hold first, then from what is available, and refuses what neither covers', async () => {
    const org = fresh();
    await deposit(org, 10);
    const hold = { id: `hold:${org}`, debit: customerAccount(org), credit: SYSTEM_ACCOUNTS.revenue, amount: usdToMicros(3), expiresAt: new Date(Date.now() + 3600_000).toISOString() };
    await ledger.hold(hold);
    const charge = (i: number, usd: number) => ledger.charge({ id: `charge:${org}:${i}`, debit: customerAccount(org), credit: SYSTEM_ACCOUNTS.revenue, amount: usdToMicros(usd), holdId: hold.id, resource: 'pod_x' });
    expect(await charge(1, 2)).toMatchObject({ ok: true });
    expect(await ledger.account(customerAccount(org))).toEqual({ balance: usdToMicros(8), held: usdToMicros(1), available: usdToMicros(7) });
    expect(await charge(2, 4)).toMatchObject({ ok: true });
    expect(await ledger.account(customerAccount(org))).toEqual({ balance: usdToMicros(4), held: 0, available: usdToMicros(4) });
    expect(await charge(2, 4)).toMatchObject({ ok: true, duplicate: true });
    expect(await charge(3, 4.5)).toMatchObject({ ok: false, code: 'INSUFFICIENT_BALANCE' });
    expect(await ledger.account(customerAccount(org))).toEqual({ balance: usdToMicros(4), held: 0, available: usdToMicros(4) });
    // The hold, emptied by charges, still closes exactly once.
    expect(await ledger.release({ id: `rel:${org}`, holdId: hold.id })).toMatchObject({ ok: true, duplicate: false });
    expect(await total()).toBe(0);
  });
});

describe('ledger: arrears', () => {
  it('pays arrears from what is available, as far as it goes, once however many settle at once', async () => {
    const org = fresh();
    const owe = (id: string, amount: number) => ledger.transfer({ id, debit: arrearsAccount(org), credit: SYSTEM_ACCOUNTS.revenue, amount });
    expect(await ledger.settleArrears(org)).toBe(0);
    await deposit(org, 3);
    // Owed after the money arrived (the race a charge cycle can lose to a top-up).
    await owe(`owed:${org}:1`, usdToMicros(5));
    expect(await ledger.settleArrears(org)).toBe(usdToMicros(3));
    expect((await ledger.account(customerAccount(org))).balance).toBe(0);
    expect((await ledger.account(arrearsAccount(org))).balance).toBe(-usdToMicros(2));
    await deposit(org, 100);
    expect((await ledger.account(arrearsAccount(org))).balance).toBe(0);
    await owe(`owed:${org}:2`, usdToMicros(4));
    const paid = await Promise.all(Array.from({ length: 10 }, (_, i) => ledgers[i % 4].settleArrears(org)));
    expect(paid.reduce((a, b) => a + b, 0)).toBe(usdToMicros(4));
    expect((await ledger.account(arrearsAccount(org))).balance).toBe(0);
    expect((await ledger.account(customerAccount(org))).balance).toBe(usdToMicros(100 - 2 - 4));
    expect(await total()).toBe(0);
  });

  it('pays what an organization owes first from its next top-up', async () => {
    const org = fresh();
    // 3 USD of usage went unpaid into arrears.
    await ledger.transfer({ id: `owed:${org}`, debit: `arrears:${org}`, credit: SYSTEM_ACCOUNTS.revenue, amount: usdToMicros(3) });
    await deposit(org, 2);
    expect((await ledger.account(`arrears:${org}`)).balance).toBe(-usdToMicros(1));
    expect((await ledger.account(customerAccount(org))).balance).toBe(0);
    await deposit(org, 10);
    expect((await ledger.account(`arrears:${org}`)).balance).toBe(0);
    expect((await ledger.account(customerAccount(org))).balance).toBe(usdToMicros(9));
    expect(await total()).toBe(0);
    const settled = (await new EventStore(t.db).readAll({ transactionId: '0', position: '0' }, 100000)).filter((e) => e.type === 'TransferPosted' && (e.data as { credit: string }).credit === `arrears:${org}`);
    expect(settled.map((e) => (e.data as { amount: number }).amount)).toEqual([usdToMicros(2), usdToMicros(1)]);
  });
});

// Last in the file: by now the tests above have posted transfers, holds placed, captured, released
// and expired, charges and arrears, across many accounts.
describe('ledger: the balances read model', () => {
  it('equals every account of the ledger, whether built in small batches or rebuilt in one', async () => {
    const accounts = async () =>
      (await sql<{ account_id: string; balance: string; held: string }>`SELECT account_id, sum(balance)::text AS balance, sum(held)::text AS held
        FROM ledger_accounts GROUP BY account_id ORDER BY account_id`.execute(t.db)).rows;
    const balances = async () =>
      (await sql<{ account_id: string; balance: string; held: string }>`SELECT account_id, balance::text, held::text FROM ledger_balances
        ORDER BY account_id`.execute(t.db)).rows;
    const store = new EventStore(t.db);
    // Batches of 7 split events that move the same account in one batch and across batches.
    expect(await new ProjectionRunner(t.db, store, [ledgerBalancesProjection], { batchSize: 7 }).catchUp()).toBeGreaterThan(100);
    const expected = await accounts();
    expect(expected.length).toBeGreaterThan(20);
    expect(await balances()).toEqual(expected);
    await new ProjectionRunner(t.db, store, [ledgerBalancesProjection], { batchSize: 5000 }).rebuild(ledgerBalancesProjection.name);
    expect(await balances()).toEqual(expected);
  });
});

// The ledger's SQL functions write their events themselves, so they name each event's schema
// version there: when a ledger event gets a new version (defineEvent), this fails until the SQL
// writes it at that version too.
describe('ledger: the events its SQL writes', () => {
  it('are stored at each type’s current schema version, for every kind of event the ledger posts', async () => {
    const rows = (await sql<{ type: string; schema_version: number }>`SELECT DISTINCT type, schema_version FROM es_events
      WHERE stream_id LIKE 'ledger:%' ORDER BY type`.execute(t.db)).rows;
    expect(rows.map((r) => r.type)).toEqual(['ChargePosted', 'HoldClosed', 'HoldPlaced', 'TransferPosted']);
    expect(rows.map((r) => [r.type, r.schema_version])).toEqual(rows.map((r) => [r.type, currentSchemaVersion(r.type)]));
  });
});
