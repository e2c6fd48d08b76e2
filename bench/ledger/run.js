#!/usr/bin/env node
// npm run bench:ledger — ledger transfers with the balance check and idempotent ids, 64
// concurrent clients, BENCH_SECONDS (default 10) per run: on one hot account pair, and spread
// over 1,000 accounts. Reference in the same run: the cheapest durable write PostgreSQL does
// (one-row INSERT, autocommit) at the same concurrency. Then metering scale: BENCH_METERS
// (default 10,000) running meters charged in one billing cycle, then all stopped half-way through
// the window just charged and settled in one cycle (half of each window given back).
// BENCH_ROUNDS (default 3); medians.
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const { median, percentile } = require('../stats');
const os = require('node:os');
const { sql } = require('kysely');
const { freshDatabase } = require('../event-store/common');

const root = path.resolve(__dirname, '../..');
const CLIENTS = 64;
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const ACCOUNTS = 1000;
const METERS = Number(process.env.BENCH_METERS ?? 10_000);


/** `CLIENTS` workers calling `op(i)` for `seconds`; throughput and latency of the successful calls. */
async function load(op) {
  const latencies = [];
  let failed = 0;
  let i = 0;
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        const ok = await op(i++);
        if (ok) latencies.push(performance.now() - t0);
        else failed++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  return { rate: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), failed };
}

async function main() {
  const database = await freshDatabase('ledger');
  const env = { ...process.env, DATABASE_URL: database.url };
  execFileSync(process.execPath, ['apps/volt-admin/dist/main.js', 'migrate'], { cwd: root, env, stdio: 'ignore' });
  const { createDatabase } = require('@volt/event-store');
  const { Ledger } = require('@volt/ledger-infra');
  const db = createDatabase(database.url, { max: CLIENTS });
  const ledger = new Ledger(db);
  try {
    await sql`CREATE TABLE bench_ref (id text PRIMARY KEY, amount bigint NOT NULL)`.execute(db);
    const huge = 1e15;
    await ledger.transfer({ id: 'fund:hot', debit: 'sys:deposits', credit: 'cust:hot', amount: huge });
    for (let a = 0; a < ACCOUNTS; a++) await ledger.transfer({ id: `fund:${a}`, debit: 'sys:deposits', credit: `cust:acct${a}`, amount: huge });
    const results = { hot: [], spread: [], ref: [] };
    let run = 0;
    for (let r = 0; r < rounds; r++) {
      process.stderr.write(`round ${r + 1}/${rounds}…\n`);
      const tag = `${r}-${run++}`;
      results.ref.push(await load((i) => sql`INSERT INTO bench_ref VALUES (${`${tag}:${i}`}, 1)`.execute(db).then(() => true)));
      results.hot.push(await load((i) => ledger.transfer({ id: `hot:${tag}:${i}`, debit: 'cust:hot', credit: 'cust:hot2', amount: 1 }).then((o) => o.ok)));
      results.spread.push(
        await load((i) => {
          const from = Math.floor(Math.random() * ACCOUNTS);
          const to = (from + 1 + Math.floor(Math.random() * (ACCOUNTS - 1))) % ACCOUNTS;
          return ledger.transfer({ id: `spread:${tag}:${i}`, debit: `cust:acct${from}`, credit: `cust:acct${to}`, amount: 1 }).then((o) => o.ok);
        }),
      );
    }
    // Metering scale: METERS running meters (GPU, 2.69 USD/h, one per pod, 100 organizations),
    // each one minute into its life, charged in one cycle.
    const { ChargingCycle } = require('@volt/billing-infra');
    const { EventStore } = require('@volt/event-store');
    const now = Date.now();
    const cadence = 60_000;
    const windowStart = Math.floor(now / cadence) * cadence;
    const meterRuns = [];
    for (let r = 0; r < rounds; r++) {
      await sql`TRUNCATE billing_meters, billing_progress, billing_charges`.execute(db);
      const rows = Array.from({ length: METERS }, (_, i) => ({
        meter_id: `bench${r}-m${i}`, pod_id: `pod_bench${r}${i}`, tenant_id: `acct${i % 100}`, kind: 'gpu', rate: 2_690_000, hold_id: null,
        started_at: new Date(windowStart - cadence),
      }));
      for (let i = 0; i < rows.length; i += 1000) await db.insertInto('billing_meters').values(rows.slice(i, i + 1000)).execute();
      const writesBefore = Number((await sql`SELECT count(*)::text AS n FROM ledger_entries`.execute(db)).rows[0].n);
      const cycle = new ChargingCycle(db, new EventStore(db), ledger, cadence);
      const t0 = performance.now();
      const report = await cycle.run(new Date(windowStart + 1));
      const seconds = (performance.now() - t0) / 1000;
      const writes = Number((await sql`SELECT count(*)::text AS n FROM ledger_entries`.execute(db)).rows[0].n) - writesBefore;
      // Then every pod's stop arrives, stamped half-way through the window just charged (a stop
      // on its way while the cycle ran): one cycle settles them all, giving back half a window each.
      await sql`UPDATE billing_meters SET ended_at = ${new Date(windowStart - cadence / 2).toISOString()}::timestamptz`.execute(db);
      const t1 = performance.now();
      const settled = await cycle.run(new Date(windowStart + 2));
      meterRuns.push({ seconds, writes, charges: report.charges, settleSeconds: (performance.now() - t1) / 1000, givenBack: settled.givenBack });
    }
    const sum = Number((await sql`SELECT sum(balance)::text AS s FROM ledger_accounts`.execute(db)).rows[0].s);
    const m = (k, f) => median(results[k].map((x) => x[f]));
    const f0 = (x) => Math.round(x).toLocaleString('en-US');
    const f1 = (x) => x.toFixed(1);
    console.log(`\nLedger benchmark: ${CLIENTS} concurrent clients, ${seconds} s per run, medians of ${rounds} rounds (${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores); sum of all accounts afterwards: ${sum}\n`);
    console.log('| workload | transfers/s | p50 (ms) | p99 (ms) | vs reference | target |');
    console.log('| --- | ---: | ---: | ---: | ---: | --- |');
    console.log(`| spread over ${ACCOUNTS} accounts | ${f0(m('spread', 'rate'))} | ${f1(m('spread', 'p50'))} | ${f1(m('spread', 'p99'))} | ${(m('spread', 'rate') / m('ref', 'rate')).toFixed(2)}× | ≥ 5,000/s |`);
    console.log(`| one hot account pair | ${f0(m('hot', 'rate'))} | ${f1(m('hot', 'p50'))} | ${f1(m('hot', 'p99'))} | ${(m('hot', 'rate') / m('ref', 'rate')).toFixed(2)}× | ≥ 1,000/s |`);
    console.log(`| reference: one-row INSERT, autocommit | ${f0(m('ref', 'rate'))} | ${f1(m('ref', 'p50'))} | ${f1(m('ref', 'p99'))} | 1.00× | |`);
    const mc = median(meterRuns.map((x) => x.seconds));
    console.log(`\nMetering: ${METERS.toLocaleString('en-US')} running meters charged in one cycle: ${mc.toFixed(2)} s (median of ${rounds}; target < 5 s), ${meterRuns[0].writes.toLocaleString('en-US')} ledger writes (one charge each), ${(METERS / mc).toFixed(0)} meters/s`);
    const ms = median(meterRuns.map((x) => x.settleSeconds));
    console.log(`Then all ${METERS.toLocaleString('en-US')} stopped half-way through the window charged: settled in one cycle in ${ms.toFixed(2)} s, ${meterRuns[0].givenBack.toLocaleString('en-US')} windows given back, ${(METERS / ms).toFixed(0)} meters/s`);
    console.log(`\nper-round transfers/s: spread ${results.spread.map((x) => f0(x.rate)).join(' ')}; hot ${results.hot.map((x) => f0(x.rate)).join(' ')}; refused: ${results.spread.concat(results.hot).reduce((s, x) => s + x.failed, 0)}`);
  } finally {
    await db.destroy();
    await database.drop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
