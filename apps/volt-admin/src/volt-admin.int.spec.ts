import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { jetstream } from '@nats-io/jetstream';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStore } from '@volt/event-store';
import { decideForOrganization, orgIdForSlug } from '@volt/identity-infra';
import { customerAccount } from '@volt/ledger-contracts';
import { Ledger } from '@volt/ledger-infra';
import { ensureConsumer } from '@volt/messaging';
import { setAside } from '@volt/messaging/dead-letters';
import { allMigrations } from '@volt/schema';
import { createTestDatabase, createTestMessaging, TEST_NATS_URL, testEvent, type TestDatabase, type TestMessaging } from '@volt/testing';

const CLI = path.resolve(__dirname, '../bin/volt-admin.js');
let t: TestDatabase;
/** When set, the database the CLI is given instead of the test's. */
let databaseUrl: string | undefined;

let m: TestMessaging;

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const env = { ...process.env, DATABASE_URL: databaseUrl ?? t.url, NATS_URL: TEST_NATS_URL, VOLT_NATS_PREFIX: m.prefix };
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], { env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  t = await createTestDatabase(allMigrations);
  m = await createTestMessaging();
  const store = new EventStore(t.db);
  for (let i = 0; i < 12; i++) await store.append(`pods:thing-${i % 2}`, [testEvent('ThingHappened', { i })], { expectedVersion: 'any' });
});
afterAll(async () => {
  await t.drop();
  await m.cleanup();
});

describe('volt-admin', () => {
  it('lists its verbs', async () => {
    const help = await cli('--help');
    expect(help.code).toBe(0);
    for (const verb of ['history', 'tail', 'rebuild', 'verify']) expect(help.stdout).toContain(verb);
  });

  it('prints a stream history and the global order', async () => {
    const history = await cli('history', 'pods:thing-1', '--json');
    const events = history.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(events.map((e) => e.data.i)).toEqual([1, 3, 5, 7, 9, 11]);
    const tail = await cli('tail');
    expect(tail.stdout.trim().split('\n')).toHaveLength(12);
    expect((await cli('tail', '--limit', '5')).stdout.trim().split('\n')).toHaveLength(5);
    for (const limit of ['x', '0', '2.5']) {
      const refused = await cli('tail', '--limit', limit);
      expect({ code: refused.code, stdout: refused.stdout, stderr: refused.stderr.trim() }).toEqual({ code: 1, stdout: '', stderr: 'volt-admin: --limit is a whole number of at least 1' });
    }
  });

  it('rebuilds a projection and refuses an unknown one', async () => {
    const ok = await cli('rebuild', 'pods.ssh-key-list');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/rebuilt pods.ssh-key-list from 12 events/);
    expect((await cli('rebuild', 'nope')).code).toBe(2);
  });

  it('verifies, then exits non-zero naming the first bad position after a row is altered behind the store', async () => {
    expect((await cli('seal')).code).toBe(0);
    const clean = await cli('verify');
    expect(clean.code).toBe(0);
    expect(clean.stdout).toMatch(/^ok: 12 events/);
    const target = await sql<{ p: string }>`SELECT position::text AS p FROM es_events WHERE stream_id = 'pods:thing-0' AND stream_version = 3`.execute(t.db);
    await t.db.connection().execute(async (conn) => {
      await sql`SET session_replication_role = replica`.execute(conn);
      await sql`UPDATE es_events SET data = '{"i": 999}' WHERE position = ${target.rows[0].p}::bigint`.execute(conn);
    });
    const bad = await cli('verify');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`first bad position ${target.rows[0].p}`);
  });

  it('creates an organization and prints its first key; refuses a taken slug; reuses one when asked', async () => {
    const created = await cli('org', 'create', '--name', 'Acme Robotics', '--json');
    expect(created.code).toBe(0);
    const org = JSON.parse(created.stdout);
    expect(org).toEqual({ org_id: expect.stringMatching(/^org_/), slug: 'acme-robotics', api_key: expect.stringMatching(/^volt_sk_live_[A-Za-z0-9]{43}$/) });
    const events = (await new EventStore(t.db).readStream(`identity:org:${org.org_id}`)).map((e) => e.type);
    expect(events).toEqual(['OrganizationCreated', 'ApiKeyCreated']);
    expect(JSON.stringify(await new EventStore(t.db).readStream(`identity:org:${org.org_id}`))).not.toContain(org.api_key);

    const again = await cli('org', 'create', '--name', 'Acme Robotics');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('an organization with the slug "acme-robotics" already exists');

    const key = `volt_sk_live_${'A'.repeat(43)}`;
    for (let i = 0; i < 2; i++) {
      const reused = await cli('org', 'create', '--name', 'Acme Robotics', '--api-key', key, '--if-exists', 'reuse', '--json');
      expect(reused.code).toBe(0);
      expect(JSON.parse(reused.stdout)).toEqual({ org_id: org.org_id, slug: 'acme-robotics', api_key: key });
    }
    const history = await new EventStore(t.db).readStream(`identity:org:${org.org_id}`);
    expect(history.map((e) => e.type)).toEqual(['OrganizationCreated', 'ApiKeyCreated', 'ApiKeyCreated']);
    // Once that key is revoked (through the API, say), reusing it is refused rather than answered
    // as its first creation again: npm start then keeps a new one.
    const revoke = { type: 'RevokeApiKey' as const, data: { keyId: (history[2].data as { keyId: string }).keyId, requestedAt: new Date().toISOString() } };
    expect((await decideForOrganization(new EventStore(t.db), { commandId: 'revoke-reused', orgId: org.org_id, actor: { type: 'system', id: 'test' }, correlationId: 'c' }, revoke)).ok).toBe(true);
    const revoked = await cli('org', 'create', '--name', 'Acme Robotics', '--api-key', key, '--if-exists', 'reuse', '--json');
    expect(revoked.code).toBe(1);
    expect(revoked.stderr).toContain('That API key was revoked; a revoked key is never issued again.');
    expect((await cli('org', 'create', '--name', 'X', '--api-key', 'short')).stderr).toContain('--api-key must be volt_sk_live_');
    expect((await cli('org', 'create', '--name', 'X', '--credit', '0')).stderr).toContain('--credit must be more than zero');
  });

  it('credits an organization once per id, at creation and later, and makes vouchers', async () => {
    for (let i = 0; i < 2; i++) {
      const created = await cli('org', 'create', '--name', 'Funded Co', '--credit', '25.50', '--if-exists', 'reuse', '--json');
      expect(created.code).toBe(0);
      expect(JSON.parse(created.stdout)).toMatchObject({ slug: 'funded-co', balance: 25.5 });
    }
    // Running services are told at once (the append signal), not left to find it at their next poll.
    let signals = 0;
    const sub = m.nc.subscribe(m.names.appendedSubject, { callback: () => void signals++ });
    await m.nc.flush();
    const added = await cli('credit', 'add', '--org', 'funded-co', '--usd', '10', '--id', 'wire-42', '--json');
    await m.nc.flush();
    sub.unsubscribe();
    expect(signals).toBe(1);
    expect(JSON.parse(added.stdout)).toMatchObject({ amount: 10, duplicate: false, balance: 35.5, currency: 'USD' });
    expect(JSON.parse((await cli('credit', 'add', '--org', 'funded-co', '--usd', '10', '--id', 'wire-42', '--json')).stdout)).toMatchObject({ duplicate: true, balance: 35.5 });
    expect((await cli('credit', 'add', '--org', 'funded-co', '--usd', 'ten')).stderr).toContain('not a USD amount');
    // A mistyped organization is refused, and nothing is credited to the account it would name.
    for (const org of ['funded-cp', 'org_NoSuchOrg0000000']) {
      const refused = await cli('credit', 'add', '--org', org, '--usd', '10');
      expect({ code: refused.code, stderr: refused.stderr.trim() }).toEqual({ code: 1, stderr: `volt-admin: no organization ${org}` });
    }
    const ledger = new Ledger(t.db);
    expect((await ledger.account(customerAccount(orgIdForSlug('funded-cp')))).balance).toBe(0);
    // A sub-cent credit says what it credited.
    expect((await cli('credit', 'add', '--org', 'funded-co', '--usd', '0.001')).stdout).toContain('credited 0.001 USD to');
    const voucher = JSON.parse((await cli('voucher', 'create', '--usd', '5', '--code', 'launch-2026', '--max-redemptions', '3', '--json')).stdout);
    expect(voucher).toEqual({ code: 'LAUNCH-2026', amount: 5, max_redemptions: 3, expires_at: null });
    expect((await cli('voucher', 'create', '--usd', '5', '--max-redemptions', '0')).stderr).toContain('--max-redemptions');
  });

  it('replays an organization’s balance from the store as of any time, and exits 1 when a row built from it differs', async () => {
    const org = JSON.parse((await cli('org', 'create', '--name', 'Audited Co', '--credit', '12.50', '--json')).stdout);
    await new Promise((r) => setTimeout(r, 20));
    const between = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 20));
    expect((await cli('credit', 'add', '--org', 'audited-co', '--usd', '0.000250')).code).toBe(0);

    const now = await cli('balance', 'audited-co');
    expect(now.code).toBe(0);
    expect(now.stdout.trim().split('\n').slice(1)).toEqual([
      '  balance 12.50025, held 0.00, available 12.50025, arrears 0.00 USD',
      '  ledger accounts: agree',
      '  read model ledger.balances (to position 0): agrees',
    ]);
    expect(now.stdout).toMatch(new RegExp(`^${org.org_id} as of .*, replayed from 2 ledger event\\(s\\) in the store:`));
    const then = JSON.parse((await cli('balance', org.org_id, '--as-of', between, '--json')).stdout);
    expect(then).toEqual({ org_id: org.org_id, as_of: between, events: 1, balance: 12.5, held: 0, available: 12.5, arrears: 0, currency: 'USD' });

    await sql`UPDATE ledger_accounts SET balance = balance + 1 WHERE account_id = ${customerAccount(org.org_id)}`.execute(t.db);
    const tampered = await cli('balance', 'audited-co', '--json');
    expect(tampered.code).toBe(1);
    expect(JSON.parse(tampered.stdout)).toMatchObject({ balance: 12.50025, ledger_accounts: { agrees: false, balance: 12.500251 }, read_model: { agrees: true } });
    expect((await cli('balance', 'audited-co')).stdout).toContain('ledger accounts DIFFER: balance 12.500251,');

    for (const [args, message] of [
      [['balance', 'audited-cp'], 'no organization audited-cp'],
      [['balance', 'audited-co', '--as-of', 'yesterday'], '--as-of is an ISO time, such as 2026-12-01T12:00:00Z'],
      [['balance'], 'balance needs an organization id or slug'],
    ]) {
      const refused = await cli(...args);
      expect({ code: refused.code, stderr: refused.stderr.trim() }).toEqual({ code: 1, stderr: `volt-admin: ${message}` });
    }
  });

  it('exports the store to a file that verify --file checks without the database', async () => {
    const file = path.join(os.tmpdir(), `volt-export-${process.pid}-${Date.now()}.jsonl`);
    try {
      const done = await cli('export', '--out', file);
      expect(done.code).toBe(0);
      const [, events, seals] = /^exported (\d+) events and (\d+) sealed ranges to /.exec(done.stdout)!;
      expect((await readFile(file, 'utf8')).trim().split('\n')).toHaveLength(1 + Number(seals) + Number(events));
      // The store was altered behind its back by an earlier test: the file says so, as the database does.
      const fromStore = await cli('verify', '--json');
      databaseUrl = 'postgres://nobody@127.0.0.1:1/none';
      const fromFile = await cli('verify', '--file', file, '--json');
      databaseUrl = undefined;
      expect(fromStore.code).toBe(1);
      expect({ code: fromFile.code, report: JSON.parse(fromFile.stdout) }).toEqual({ code: 1, report: JSON.parse(fromStore.stdout) });
      expect(JSON.parse(fromFile.stdout)).toMatchObject({ ok: false, eventsChecked: Number(events), sealsChecked: Number(seals) });
      // To stdout, the same lines; an existing file is never overwritten.
      const piped = await cli('export');
      expect(piped.stdout.split('\n').slice(1)).toEqual((await readFile(file, 'utf8')).split('\n').slice(1));
      const again = await cli('export', '--out', file);
      expect({ code: again.code, stderr: again.stderr.trim() }).toEqual({ code: 1, stderr: `volt-admin: EEXIST: file already exists, open '${file}'` });
      const missing = await cli('verify', '--file', `${file}.nope`);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('ENOENT');
    } finally {
      databaseUrl = undefined;
      await rm(file, { force: true });
    }
  });

  it('lists dead letters, redrives one to the consumer that failed it, and discards another, without the database', async () => {
    databaseUrl = 'postgres://nobody@127.0.0.1:1/none';
    try {
      const js = jetstream(m.nc);
      await ensureConsumer(m.nc, m.names.commandStream, { durable_name: 'admin-test', filter_subject: m.names.commandFilter('test') });
      const consumer = await js.consumers.get(m.names.commandStream, 'admin-test');
      // A real delivery, set aside the way the transport does after its last failure.
      const published = await js.publish(m.names.commandSubject('test', 'Broken'), JSON.stringify({ id: 'cmd-1' }), { msgID: 'cmd-1' });
      await setAside(js, m.names, (await consumer.next({ expires: 5_000 }))!, 'admin-test', new Error('boom'));
      expect((await cli('dead-letters')).stdout).toMatch(new RegExp(`volt\\.cmd\\.test\\.Broken  consumer admin-test  after 1 deliveries  stream seq ${published.seq}  id cmd-1\n +Error: boom\n$`));
      const listed = await cli('dead-letters', '--json');
      const letters = listed.stdout.trim().split('\n').map((l) => JSON.parse(l));
      expect(letters).toEqual([expect.objectContaining({ pattern: 'volt.cmd.test.Broken', consumer: 'admin-test', streamSequence: published.seq, deliveries: 1, error: 'Error: boom', messageId: 'cmd-1', data: '{"id":"cmd-1"}' })]);
      const [{ seq }] = letters;

      expect(await cli('redrive')).toMatchObject({ code: 1, stderr: 'volt-admin: redrive needs the seq of one or more dead letters, or --all\n' });
      expect(await cli('redrive', String(seq + 100))).toMatchObject({ code: 1, stdout: `no dead letter ${seq + 100}\n` });
      expect(await cli('redrive', String(seq))).toMatchObject({ code: 0, stdout: `redriven ${seq}: volt.cmd.test.Broken for admin-test\n` });
      expect(await cli('dead-letters')).toMatchObject({ code: 0, stdout: 'no dead letters\n' });
      const back = (await consumer.next({ expires: 5_000 }))!;
      expect({ subject: back.subject, redriveFor: back.headers?.get('Volt-Redrive-For'), data: back.string() }).toEqual({ subject: m.names.commandSubject('test', 'Broken'), redriveFor: 'admin-test', data: '{"id":"cmd-1"}' });

      await setAside(js, m.names, back, 'admin-test', new Error('boom again'));
      const [again] = (await cli('dead-letters', '--json')).stdout.trim().split('\n').map((l) => JSON.parse(l));
      expect(await cli('discard', '--all')).toMatchObject({ code: 1, stderr: 'volt-admin: discard takes seqs, not --all: look at each one first\n' });
      expect(await cli('discard', String(again.seq))).toMatchObject({ code: 0, stdout: `discarded ${again.seq}: volt.cmd.test.Broken for admin-test\n` });
      expect(await cli('redrive', '--all')).toMatchObject({ code: 0, stdout: 'no dead letters\n' });
      expect(await cli('discard', 'x')).toMatchObject({ code: 1, stderr: "volt-admin: not a dead letter's seq: x\n" });
    } finally {
      databaseUrl = undefined;
    }
  });

  it('lists each projection and relay with its checkpoint and the events after it that are its to apply or publish', async () => {
    const list = async () => (await cli('projections', '--json')).stdout.trim().split('\n').map((l) => JSON.parse(l));
    const find = (all: any[], kind: string, name: string) => all.find((f) => f.kind === kind && f.name === name);
    const store = new EventStore(t.db);
    // Rebuilt earlier in this file: its checkpoint stands at the end of the store as it was then.
    const before = find(await list(), 'projection', 'pods.ssh-key-list');
    expect(before).toMatchObject({ pending: 0, tables: ['pods_ssh_keys'], updatedAt: expect.any(String) });
    expect(Number(before.position)).toBeGreaterThan(0);
    const last = await store.append('pods:ssh-keys-admin', [testEvent('Noted')], { expectedVersion: 'any' });
    await sql`INSERT INTO msg_relay_checkpoints (name, transaction_id, position) VALUES ('outbox', ${last.transactionId}::xid8, ${last.positions[0]}::bigint)`.execute(t.db);
    // Two events the list projection handles, one it does not; the relay publishes all three.
    await store.append('pods:ssh-keys-admin', [testEvent('SshKeyAdded'), testEvent('Noted'), testEvent('SshKeyRemoved')], { expectedVersion: 'any' });
    const after = await list();
    expect(find(after, 'projection', 'pods.ssh-key-list')).toMatchObject({ position: before.position, pending: 2 });
    expect(find(after, 'relay', 'outbox')).toMatchObject({ position: last.positions[0], pending: 3 });
    // A projection that has never run counts from the start of the store.
    const never = after.find((f) => f.kind === 'projection' && f.updatedAt === null);
    expect(never).toMatchObject({ position: '0' });
    const text = await cli('projections');
    expect(text.stdout).toContain(`projection pods.ssh-key-list  position ${before.position}  to apply 2  moved ${before.updatedAt}  tables pods_ssh_keys\n`);
    expect(text.stdout).toMatch(new RegExp(`^relay outbox  position ${last.positions[0]}  to publish 3  moved \\S+$`, 'm'));
  });
});
