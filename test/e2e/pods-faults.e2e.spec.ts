import { sql } from 'kysely';
import { startService } from '@volt/platform';
import { customerAccount } from '@volt/ledger-contracts';
import { Ledger } from '@volt/ledger-infra';
import { ledgerService } from '../../apps/ledger/src/ledger.service';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TERMINAL_STATUSES } from '@volt/pods-contracts';
import { sshAnswers } from '@volt/pods-infra';
import { generateSshKey } from '../support/ssh';
import { eventually, metric, podReaches, simAdmin, simInstances } from '../support/pods';
import { startStack, type TestStack } from '../support/stack';

let stack: TestStack;
let keyId: string;
beforeAll(async () => {
  stack = await startStack({ env: { VOLT_POD_CREATE_LIMIT: '1000' } });
  keyId = (await stack.call('POST', '/api/volt/ssh-keys', { body: { name: 'laptop', public_key: generateSshKey().line } })).body.id;
});
afterEach(async () => {
  await simAdmin(stack, 'PUT', '/faults/lium', {});
  await simAdmin(stack, 'PUT', '/faults/targon', {});
});
afterAll(() => stack?.stop());

const body = (machine = 'mach_a100_01') => ({ machine_id: machine, template_id: 'tpl_pytorch21', ssh_key_ids: [keyId] });
const create = async (machine?: string) => {
  const r = await stack.call('POST', '/api/volt/pods', { body: body(machine) });
  expect(r.status).toBe(201);
  return r.body.id as string;
};
const instancesOf = async (podId: string) => (await simInstances(stack)).filter((i) => i.tag === podId);

describe('provider faults', () => {
  it('a create that succeeded but answered 500 is retried into the same instance: one pod, one instance', async () => {
    await simAdmin(stack, 'PUT', '/faults/lium', { createThen500: 1 });
    const podId = await create();
    await podReaches(stack, podId, 'running');
    expect(await instancesOf(podId)).toHaveLength(1);
    expect(await metric(stack.pods.url, 'gpu_provider_api_errors_total{provider="lium",operation="create"}')).toBeGreaterThanOrEqual(1);
  });

  it('a provider that hangs past the timeout answers 502, fails the pod with provider_error, and leaves nothing behind', async () => {
    await simAdmin(stack, 'PUT', '/faults/lium', { hang: ['create'] });
    const before = (await simInstances(stack)).length;
    const r = await stack.call('POST', '/api/volt/pods', { body: body() });
    expect(r.status).toBe(502);
    expect(r.body).toMatchObject({ error: true, status: 502, code: 'PROVIDER_UNAVAILABLE' });
    const failed = (await stack.call('GET', '/api/volt/pods?status=failed')).body.pods;
    expect(failed[0]).toMatchObject({ status: 'failed', reason: 'provider_error', status_message: expect.stringMatching(/Nothing was charged/) });
    expect((await simInstances(stack)).length).toBe(before);
  });

  it('a create that failed on the provider runs again when retried with the same Idempotency-Key, once', async () => {
    await simAdmin(stack, 'PUT', '/faults/lium', { errorRate: { create: 1 } });
    const headers = { 'idempotency-key': `retry-${Date.now()}` };
    const failed = await stack.call('POST', '/api/volt/pods', { body: body(), headers });
    expect(failed.status).toBe(502);
    await simAdmin(stack, 'PUT', '/faults/lium', {});
    // Before, the retry's command had the failed one's id, JetStream dropped it as a duplicate,
    // and the retry waited 10 s for a 504 saying it would complete (it never did).
    const retried = await stack.call('POST', '/api/volt/pods', { body: body(), headers });
    expect(retried.status).toBe(201);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    const replayed = await stack.call('POST', '/api/volt/pods', { body: body(), headers });
    expect(replayed).toMatchObject({ status: 201, body: { id: retried.body.id } });
    expect(replayed.headers.get('idempotent-replayed')).toBe('true');
    await podReaches(stack, retried.body.id, 'running');
    expect(await instancesOf(retried.body.id)).toHaveLength(1);
  });

  it('a destroy that silently does nothing is retried until the instance is really gone, and counted', async () => {
    const podId = await create();
    await podReaches(stack, podId, 'running');
    const failuresBefore = await metric(stack.pods.url, 'gpu_destroy_failures_total');
    await simAdmin(stack, 'PUT', '/faults/lium', { destroyNoop: 1 });
    expect((await stack.call('DELETE', `/api/volt/pods/${podId}`)).body.status).toBe('deleting');
    await eventually('a destroy failure to be counted', async () => (await metric(stack.pods.url, 'gpu_destroy_failures_total')) > failuresBefore);
    // Never shown deleted while the provider still has it.
    expect((await stack.call('GET', `/api/volt/pods/${podId}`)).body.status).toBe('deleting');
    expect(await instancesOf(podId)).toHaveLength(1);
    await simAdmin(stack, 'PUT', '/faults/lium', {});
    await podReaches(stack, podId, 'deleted');
    expect(await instancesOf(podId)).toHaveLength(0);
  });

  it('a machine the provider calls running is not running for Volt until its SSH answers', async () => {
    const failures = await metric(stack.pods.url, 'gpu_ssh_verify_failures_total');
    await simAdmin(stack, 'PUT', '/faults/lium', { sshDown: true });
    const podId = await create('mach_a100_02');
    await eventually('the provider to call it running', async () => (await instancesOf(podId))[0]?.phase === 'running');
    await eventually('a failed SSH check', async () => (await metric(stack.pods.url, 'gpu_ssh_verify_failures_total')) > failures);
    // Still deploying, and saying what it waits for.
    const waiting = await eventually('the pod to say its SSH is silent', async () => {
      const d = (await stack.call('GET', `/api/volt/pods/${podId}`)).body;
      return d.status_message ? d : undefined;
    });
    const sshPort = (await instancesOf(podId))[0].sshPort;
    expect(waiting).toMatchObject({ status: 'deploying', reason: null, status_message: expect.stringMatching(new RegExp(`reports the machine up, but its SSH at [^ ]+:${sshPort} has not answered since .* nothing is charged`)) });
    await simAdmin(stack, 'PUT', '/faults/lium', {});
    const running = await podReaches(stack, podId, 'running');
    expect(running.ssh_port).toBe(sshPort);
    expect(running.status_message).toBeNull();
    await stack.call('DELETE', `/api/volt/pods/${podId}`);
  });

  it('a running pod whose SSH stops answering says so (and is counted) until it answers again; each change is one event', async () => {
    // A stack of its own that checks running machines every 100 ms, so the shared one's pods are left alone.
    const checked = await startStack({ env: { VOLT_SSH_CHECK_INTERVAL_MS: '100', VOLT_SSH_VERIFY_TIMEOUT_MS: '300' } });
    try {
      const podId = (await checked.call('POST', '/api/volt/pods', { body: { machine_id: 'mach_a100_01', template_id: 'tpl_pytorch21' } })).body.id as string;
      await podReaches(checked, podId, 'running');
      const unreachable = () => metric(checked.pods.url, 'gpu_ssh_unreachable{provider="lium"}');
      const detail = async () => (await checked.call('GET', `/api/volt/pods/${podId}`)).body;
      // Checked several times while it answers: nothing is recorded.
      await new Promise((r) => setTimeout(r, 500));
      expect((await detail()).status_message).toBeNull();

      await simAdmin(checked, 'PUT', '/faults/lium', { sshDown: true });
      const silent = await eventually('the pod to say its SSH is silent', async () => {
        const d = await detail();
        return d.status_message ? d : undefined;
      });
      expect(silent).toMatchObject({ status: 'running', reason: null, status_message: expect.stringMatching(new RegExp(`SSH at ${silent.ip}:${silent.ssh_port} has not answered since`)) });
      await eventually('the gauge to count it', async () => (await unreachable()) === 1);
      // Still silent at the next checks: no further event.
      await new Promise((r) => setTimeout(r, 500));

      await simAdmin(checked, 'PUT', '/faults/lium', {});
      await eventually('the pod to answer again', async () => (await detail()).status_message === null);
      await eventually('the gauge to drop', async () => (await unreachable()) === 0);
      const { rows } = await sql<{ type: string }>`SELECT type FROM es_events WHERE stream_id = ${`pods:pod:${podId}`} ORDER BY stream_version`.execute(checked.db.db);
      expect(rows.map((r) => r.type).filter((t) => t.startsWith('PodSsh'))).toEqual(['PodSshSilent', 'PodSshAnswered']);
      expect((await detail()).status).toBe('running');
    } finally {
      await checked.stop();
    }
  });

  it('an instance that never comes up fails with provisioning_timeout and is destroyed', async () => {
    const slow = await startStack({ env: { VOLT_POD_CREATE_LIMIT: '1000', VOLT_PROVISION_TIMEOUT_MS: '800' }, transitionMs: 60_000 });
    try {
      const r = await slow.call('POST', '/api/volt/pods', { body: { machine_id: 'mach_h100_01', template_id: 'tpl_pytorch21' } });
      expect(r.status).toBe(201);
      const failed = await podReaches(slow, r.body.id, 'failed');
      expect(failed).toMatchObject({ reason: 'provisioning_timeout', status_message: expect.stringMatching(/did not bring the pod up/) });
      await eventually('the slow instance to be destroyed', async () => (await simInstances(slow)).every((i) => i.tag !== r.body.id || i.phase === 'terminating'));
      // Up at the provider at once, but its SSH never answers: the same, and the message says why.
      await simAdmin(slow, 'PUT', '/config', { transition_ms: 0 });
      await simAdmin(slow, 'PUT', '/faults/lium', { sshDown: true });
      const silent = await slow.call('POST', '/api/volt/pods', { body: { machine_id: 'mach_h100_02', template_id: 'tpl_pytorch21' } });
      expect(await podReaches(slow, silent.body.id, 'failed')).toMatchObject({ reason: 'provisioning_timeout', status_message: expect.stringMatching(/running, but its SSH did not answer within/) });
      await eventually('the silent instance to be destroyed', async () => (await simInstances(slow)).every((i) => i.tag !== silent.body.id || i.phase === 'terminating'));
    } finally {
      await slow.stop();
    }
  });

  it('an offer withdrawn between listing and create answers 503 stale_inventory and provisions nothing', async () => {
    expect((await stack.call('GET', '/api/volt/machines')).body.machines.map((m: { id: string }) => m.id)).toContain('mach_h200_01');
    await simAdmin(stack, 'POST', '/offers/withdraw', { offer_id: 'h200_01' });
    try {
      const before = (await simInstances(stack)).length;
      const r = await stack.call('POST', '/api/volt/pods', { body: body('mach_h200_01') });
      expect(r.status).toBe(503);
      expect(r.body).toEqual({
        error: true,
        status: 503,
        code: 'STALE_INVENTORY',
        error_type: 'stale_inventory',
        offer_id: 'mach_h200_01',
        provider: 'lium',
        retry_suggested: true,
        message: 'The selected offer is no longer available. Please refresh inventory and select a different offer.',
        request_id: expect.any(String),
      });
      expect((await simInstances(stack)).length).toBe(before);
      // The catalogue forgets the offer at once.
      expect((await stack.call('GET', '/api/volt/machines')).body.machines.map((m: { id: string }) => m.id)).not.toContain('mach_h200_01');
      const failed = (await stack.call('GET', '/api/volt/pods?status=failed')).body.pods.find((p: { reason: string }) => p.reason === 'stale_inventory');
      expect(failed).toBeDefined();
    } finally {
      await simAdmin(stack, 'POST', '/offers/restore', { offer_id: 'h200_01' });
    }
  });
});

describe('a catalogue behind the provider', () => {
  it('shows its own pods’ GPUs as taken at once, and given back by the time a deleted pod shows deleted; GPUs others took since the last refresh answer 503 stale_inventory, then the machine stays listed with what it has', async () => {
    // No refresh during the test: the catalogue knows only what it read at start, and what Volt did since.
    const still = await startStack({ env: { VOLT_CATALOGUE_REFRESH_MS: '600000', VOLT_POD_CREATE_LIMIT: '1000' } });
    try {
      const pod = (gpus: number) => still.call('POST', '/api/volt/pods', { body: { machine_id: 'mach_rtx4090_01', template_id: 'tpl_pytorch21', gpu_count: gpus } });
      const machine = async () => (await still.call('GET', '/api/volt/machines?provider=lium')).body.machines.find((m: { id: string }) => m.id === 'mach_rtx4090_01');
      expect(await machine()).toMatchObject({ gpu_count: 4, available_gpus: 4 });
      // A pod of ours takes one GPU: listed at once (it used to wait for the next refresh).
      const first = await pod(1);
      expect(first.status).toBe(201);
      expect(await machine()).toMatchObject({ available_gpus: 3 });
      // The provider's other customers take two more: the catalogue still says three are free.
      await simAdmin(still, 'POST', '/offers/occupy', { offer_id: 'rtx4090_01', gpus: 2 });
      const refused = await pod(2);
      expect(refused.status).toBe(503);
      expect(refused.body).toMatchObject({ code: 'STALE_INVENTORY', error_type: 'stale_inventory', offer_id: 'mach_rtx4090_01', retry_suggested: true });
      const failed = (await still.call('GET', '/api/volt/pods?status=failed')).body.pods[0];
      expect(failed).toMatchObject({ reason: 'stale_inventory', status_message: expect.stringContaining('no longer has 2 free GPUs') });
      // The machine is still offered, with fewer free GPUs than were asked for: the next create is told so.
      expect(await machine()).toMatchObject({ available_gpus: 1 });
      const again = await pod(2);
      expect(again.status).toBe(409);
      expect(again.body).toMatchObject({ code: 'CONFLICT', message: 'Machine mach_rtx4090_01 has 1 free GPU; asked for 2. Choose fewer GPUs or another machine.' });
      expect((await pod(1)).status).toBe(201);
      expect(await machine()).toMatchObject({ available_gpus: 0 });
      // Our first pod stopped, then deleted: once it shows deleted, its GPU is listed as free
      // again, with no timed refresh in between.
      await podReaches(still, first.body.id, 'running');
      expect((await still.call('POST', `/api/volt/pods/${first.body.id}/stop`)).status).toBe(200);
      await podReaches(still, first.body.id, 'stopped');
      expect(await machine()).toMatchObject({ available_gpus: 0 });
      expect((await still.call('DELETE', `/api/volt/pods/${first.body.id}`)).status).toBe(200);
      await podReaches(still, first.body.id, 'deleted');
      expect(await machine()).toMatchObject({ available_gpus: 1 });
      expect((await pod(1)).status).toBe(201);
    } finally {
      await still.stop();
    }
  });
});

describe('reconciliation', () => {
  it('shows a running machine’s new address when its provider moves it, and its SSH answers there', async () => {
    const podId = await create('mach_a100_02');
    const before = await podReaches(stack, podId, 'running');
    const moved = await simAdmin(stack, 'POST', `/instances/${(await instancesOf(podId))[0].id}/move`);
    expect(moved.sshPort).not.toBe(before.ssh_port);
    const after = await eventually('the new port in the pod', async () => {
      const pod = (await stack.call('GET', `/api/volt/pods/${podId}`)).body;
      return pod.ssh_port === moved.sshPort ? pod : undefined;
    });
    expect(after.status).toBe('running');
    expect(await sshAnswers(after.ip, after.ssh_port, 2_000)).toBe(true);
    await stack.call('DELETE', `/api/volt/pods/${podId}`);
  });

  it('carries a key change the provider missed on its next sweep; a key removed from the organization stays on the running machine until it is redeployed', async () => {
    // A dedicated machine: the pod is stopped and started again long before a spot pod's minimum runtime.
    const podId = await create('mach_h100_01');
    await podReaches(stack, podId, 'running');
    const keysOnMachine = async () => (await instancesOf(podId))[0].sshKeys.slice().sort();
    const first = (await stack.call('GET', '/api/volt/ssh-keys')).body.ssh_keys.find((k: { id: string }) => k.id === keyId).public_key;
    const desk = (await stack.call('POST', '/api/volt/ssh-keys', { body: { name: 'desk', public_key: generateSshKey().line } })).body;
    expect(await keysOnMachine()).toEqual([first]);
    // The provider refuses every key change for a while: the change is recorded all the same.
    await simAdmin(stack, 'PUT', '/faults/lium', { errorRate: { keys: 1 } });
    const updated = await stack.call('PUT', `/api/volt/pods/${podId}`, { body: { ssh_key_ids: [keyId, desk.id] } });
    expect(updated.status).toBe(200);
    expect(updated.body.ssh_keys).toEqual([keyId, desk.id]);
    expect(await keysOnMachine()).toEqual([first]);
    await simAdmin(stack, 'PUT', '/faults/lium', {});
    await eventually('the reconciler to install both keys', async () => JSON.stringify(await keysOnMachine()) === JSON.stringify([first, desk.public_key].sort()));
    // Seed 000: "Running pods keep existing authorized keys until redeployed". Removed from the
    // account, the key is no longer listed, and sweeps leave it on the machine running with it.
    expect((await stack.call('DELETE', `/api/volt/ssh-keys/${desk.id}`)).status).toBe(200);
    expect((await stack.call('GET', '/api/volt/ssh-keys')).body.ssh_keys.map((k: { id: string }) => k.id)).not.toContain(desk.id);
    const sweeps = () => metric(stack.pods.url, 'gpu_reconcile_sweep_seconds_count');
    const afterSweeps = async (n: number) => {
      const from = await sweeps();
      await eventually(`${n} more sweeps`, async () => (await sweeps()) >= from + n);
    };
    await afterSweeps(3);
    expect(await keysOnMachine()).toEqual([first, desk.public_key].sort());
    // Redeployed (stopped and started), the pod and its machine keep the organization's keys only.
    await stack.call('POST', `/api/volt/pods/${podId}/stop`);
    await podReaches(stack, podId, 'stopped');
    expect((await stack.call('POST', `/api/volt/pods/${podId}/start`)).status).toBe(200);
    const restarted = await podReaches(stack, podId, 'running');
    expect(restarted.ssh_keys).toEqual([keyId]);
    expect(await keysOnMachine()).toEqual([first]);
    await afterSweeps(3);
    expect(await keysOnMachine()).toEqual([first]);
    // The same key added back is a new key of the organization's: it reaches the machine with a PUT.
    const again = (await stack.call('POST', '/api/volt/ssh-keys', { body: { name: 'desk again', public_key: desk.public_key } })).body;
    expect(again.fingerprint).toBe(desk.fingerprint);
    expect((await stack.call('PUT', `/api/volt/pods/${podId}`, { body: { ssh_key_ids: [keyId, again.id] } })).status).toBe(200);
    expect(await keysOnMachine()).toEqual([first, desk.public_key].sort());
    await stack.call('DELETE', `/api/volt/pods/${podId}`);
  });

  it('destroys planted orphans (untagged, and tagged with a pod Volt never made) and counts them', async () => {
    const before = await metric(stack.pods.url, 'gpu_orphans_detected_total');
    const untagged = await simAdmin(stack, 'POST', '/orphans', { provider: 'lium' });
    const ghost = await simAdmin(stack, 'POST', '/orphans', { provider: 'targon', tag: 'pod_ghost123' });
    await eventually('both orphans to be destroyed', async () => {
      const ids = (await simInstances(stack)).filter((i) => i.phase !== 'terminating').map((i) => i.id);
      return !ids.includes(untagged.id) && !ids.includes(ghost.id);
    });
    expect(await metric(stack.pods.url, 'gpu_orphans_detected_total')).toBe(before + 2);
    // The sessions gauge counts live pods (ended ones are no session), as the read model holds them.
    await eventually('gpu_sessions_active to count the live pods', async () => {
      const live = await stack.db.db.selectFrom('pods_sessions').select(['provider', 'status']).where('status', 'not in', [...TERMINAL_STATUSES]).execute();
      const text = await (await fetch(`${stack.pods.url}/metrics`)).text();
      const gauge = [...text.matchAll(/^gpu_sessions_active\{provider="([a-z]+)",status="([a-z-]+)"\} (\d+)$/gm)].flatMap((m) => Array(Number(m[3])).fill(`${m[1]}/${m[2]}`));
      const expected = live.map((r) => `${r.provider}/${r.status}`);
      return expected.length > 0 && JSON.stringify(gauge.sort()) === JSON.stringify(expected.sort());
    });
  });

  it('concurrent stop, start and delete on one pod end in a legal state that the provider agrees with', async () => {
    for (let round = 0; round < 3; round++) {
      const podId = await create('mach_h100_02');
      await podReaches(stack, podId, 'running');
      const actions = ['stop', 'start', 'stop', 'delete', 'start', 'stop'].sort(() => Math.random() - 0.5);
      const answers = await Promise.all(
        actions.map((a) => (a === 'delete' ? stack.call('DELETE', `/api/volt/pods/${podId}`) : stack.call('POST', `/api/volt/pods/${podId}/${a}`))),
      );
      for (const a of answers) expect([200, 409]).toContain(a.status);
      const settled = await podReaches(stack, podId, ['running', 'stopped', 'deleted']);
      // Give the reconciler a few sweeps to prove the state is stable, not passing through.
      await new Promise((r) => setTimeout(r, 500));
      const final = (await stack.call('GET', `/api/volt/pods/${podId}`)).body;
      expect(final.status).toBe(settled.status);
      const live = (await instancesOf(podId)).filter((i) => i.phase !== 'terminating');
      if (final.status === 'deleted') expect(live).toHaveLength(0);
      else expect(live.map((i) => i.phase)).toEqual([final.status]);
      if (final.status !== 'deleted') {
        if (final.status === 'stopped') await stack.call('POST', `/api/volt/pods/${podId}/start`);
        await podReaches(stack, podId, 'running');
        await stack.call('DELETE', `/api/volt/pods/${podId}`);
        await podReaches(stack, podId, 'deleted');
      }
    }
  });
});

describe('money held by starts', () => {
  it('concurrent starts of a stopped pod hold its next hour once: the starts that lost the race give theirs back', async () => {
    const podId = await create('mach_h100_02');
    await podReaches(stack, podId, 'running');
    await stack.call('POST', `/api/volt/pods/${podId}/stop`);
    await podReaches(stack, podId, 'stopped');
    const pending = async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM ledger_entries WHERE kind = 'hold' AND status = 'pending' AND resource = ${podId}`.execute(stack.db.db)).rows[0].n;
    expect(await pending()).toBe(0);
    // Each start that finds the pod stopped reserves an hour before deciding; one of them starts it.
    const answers = await Promise.all(Array.from({ length: 6 }, () => stack.call('POST', `/api/volt/pods/${podId}/start`)));
    expect(answers.map((a) => a.status)).toEqual(Array(6).fill(200));
    await podReaches(stack, podId, 'running');
    // A start answers once the ledger has taken its hold back: nothing to wait for.
    expect(await pending()).toBe(1);
    await stack.call('DELETE', `/api/volt/pods/${podId}`);
    await podReaches(stack, podId, 'deleted');
    expect(await pending()).toBe(0);
  });
});

describe('the ledger not answering', () => {
  it('fails the create and, once the ledger is back, leaves none of the customer’s money held', async () => {
    const { apiKey, orgId } = await stack.createOrg('Ledger Down');
    const held = async () => (await new Ledger(stack.db.db).account(customerAccount(orgId))).held;
    await stack.ledger.stop();
    const bare = { machine_id: 'mach_a100_01', template_id: 'tpl_pytorch21' };
    const r = await stack.call('POST', '/api/volt/pods', { key: apiKey, body: bare });
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ code: 'SERVICE_UNAVAILABLE', message: expect.stringMatching(/nothing was provisioned or charged/) });
    expect((await stack.call('GET', '/api/volt/pods', { key: apiKey })).body.total).toBe(0);
    // The placing was queued, durable, and so was its release: whichever the ledger takes
    // first, nothing stays held (before, the hold stayed for its two hours).
    stack.ledger = await startService(ledgerService(), stack.env);
    // Placed then released, or released first (the hold's id voided) and the placing refused.
    const settled = async () => {
      const { rows } = await sql<{ status: string }>`SELECT status FROM ledger_entries WHERE kind = 'hold' AND (tenant_id = ${orgId} OR status = 'voided')`.execute(stack.db.db);
      if (rows.length !== 1) return false;
      if (rows[0].status === 'released') return true;
      return rows[0].status === 'voided' && (await metric(stack.ledger.url, 'volt_ledger_requests_total{kind="hold",outcome="mismatch"}')) >= 1;
    };
    await eventually('the queued placing and release to be applied', settled);
    expect(await held()).toBe(0);
    // And the retry works, with its own hold.
    const retried = await stack.call('POST', '/api/volt/pods', { key: apiKey, body: bare });
    expect(retried.status).toBe(201);
    expect(await held()).toBeGreaterThan(0);
  }, 30_000);
});
