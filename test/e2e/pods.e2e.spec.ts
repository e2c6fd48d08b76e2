import { verify } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStore } from '@volt/event-store';
import { sshAnswers } from '@volt/pods-infra';
import { podStream } from '@volt/pods-contracts';
import { generateSshKey } from '../support/ssh';
import { eventually, podReaches, simInstances } from '../support/pods';
import { startStack, type TestStack } from '../support/stack';

let stack: TestStack;
let keyId: string;
beforeAll(async () => {
  stack = await startStack({ env: { VOLT_POD_CREATE_LIMIT: '1000' } });
  keyId = (await stack.call('POST', '/api/volt/ssh-keys', { body: { name: 'laptop', public_key: generateSshKey().line } })).body.id;
});
afterAll(() => stack?.stop());

const lium = (over: Record<string, unknown> = {}) => ({ machine_id: 'mach_rtx4090_01', name: 'my-training-pod', template_id: 'tpl_pytorch21', ssh_key_ids: [keyId], gpu_count: 1, volume_size_gb: 50, ...over });
const eventTypes = async (podId: string) => (await new EventStore(stack.db.db).readStream(podStream(podId))).map((e) => e.type);

describe('machines and providers', () => {
  it('lists machines as seed 000 shapes them, with every filter, sort and paging', async () => {
    const all = await stack.call('GET', '/api/volt/machines');
    expect(all.status).toBe(200);
    expect(all.body.total).toBe(12);
    expect(all.body.machines[0]).toMatchObject({ id: expect.stringMatching(/^mach_/), gpu_type: expect.any(String), gpu_count: expect.any(Number), gpu_vram_gb: expect.any(Number), cpu_cores: expect.any(Number), ram_gb: expect.any(Number), storage_gb: expect.any(Number), cost_per_gpu_hour: expect.any(Number), available_gpus: expect.any(Number), location: expect.any(String), provider: expect.any(String) });
    const prices = all.body.machines.map((m: { cost_per_gpu_hour: number }) => m.cost_per_gpu_hour);
    expect(prices).toEqual([...prices].sort((a, b) => a - b));
    const rtx = (await stack.call('GET', '/api/volt/machines?gpu_type=rtx%204090')).body;
    expect(rtx.machines.map((m: { id: string }) => m.id).sort()).toEqual(['mach_rtx4090_01', 'mach_rtx4090_02']);
    const targon = (await stack.call('GET', '/api/volt/machines?confidential=true')).body;
    expect(targon.total).toBe(4);
    expect(targon.machines.every((m: { provider: string; confidential: boolean }) => m.provider === 'targon' && m.confidential)).toBe(true);
    expect((await stack.call('GET', '/api/volt/machines?provider=targon')).body.total).toBe(4);
    const spot = (await stack.call('GET', '/api/volt/machines?instance_type=SPOT')).body;
    expect(spot.total).toBe(3);
    expect(spot.machines.every((m: { instance_type: string; minimum_runtime_minutes: number }) => m.instance_type === 'spot' && m.minimum_runtime_minutes === 20)).toBe(true);
    const filtered = (await stack.call('GET', '/api/volt/machines?min_vram=80&max_price=2.5&location=eu-west&min_gpu_count=4')).body;
    expect(filtered.machines.map((m: { id: string }) => m.id).sort()).toEqual(['mach_a100_02', 'mach_h100_02']);
    // VRAM is whole GB: a fraction asks for the next one up; a figure past integer range finds none.
    const fractional = (await stack.call('GET', '/api/volt/machines?min_vram=79.5&max_price=2.5&location=eu-west&min_gpu_count=4')).body;
    expect(fractional.machines.map((m: { id: string }) => m.id).sort()).toEqual(['mach_a100_02', 'mach_h100_02']);
    for (const query of ['min_vram=99999999999999999999999', 'min_gpu_count=2147483648', 'gpu_count=9007199254740991']) {
      expect(await stack.call('GET', `/api/volt/machines?${query}`)).toMatchObject({ status: 200, body: { machines: [], total: 0 } });
    }
    const page = (await stack.call('GET', '/api/volt/machines?sort=vram&order=desc&limit=2&offset=1')).body;
    expect(page.total).toBe(12);
    expect(page.machines).toHaveLength(2);
    expect(page.machines[0].gpu_vram_gb).toBeGreaterThanOrEqual(page.machines[1].gpu_vram_gb);
    const bad = await stack.call('GET', '/api/volt/machines?min_vram=lots&sort=weight');
    expect(bad.status).toBe(400);
    expect(bad.body.details.map((d: { field: string }) => d.field).sort()).toEqual(['min_vram', 'sort']);
    const providers = (await stack.call('GET', '/api/volt/providers')).body;
    expect(providers.providers.map((p: { name: string; kind: string; status: string }) => [p.name, p.kind, p.status])).toEqual([
      ['lium', 'standard', 'ok'],
      ['targon', 'confidential', 'ok'],
    ]);
  });
});

describe('the Lium pod lifecycle through the gateway', () => {
  it('creates, runs, updates, stops, resizes, starts and deletes a pod, with the provider agreeing at each step', async () => {
    const published: string[] = [];
    const sub = stack.messaging.nc.subscribe(`${stack.messaging.prefix}.volt.evt.pods.>`, { callback: (_e, msg) => void published.push(msg.subject.split('.').pop()!) });
    const created = await stack.call('POST', '/api/volt/pods', { body: lium() });
    expect(created.status).toBe(201);
    // One of the machine's 4 GPUs comes with a quarter of its 32 cores and 128 GB (seed 000's example).
    expect(created.body).toMatchObject({ name: 'my-training-pod', status: 'deploying', provider: 'lium', gpu_type: 'RTX 4090', gpu_count: 1, cpu_cores: 8, ram_gb: 32, cost_per_hour: 0.39, ip: null, ssh_port: null, template: 'pytorch/pytorch:2.1.0-cuda12.1-cudnn8-devel', volume_size_gb: 50, ssh_keys: [keyId], confidential: false, attestation: null });
    const podId = created.body.id;
    expect(podId).toMatch(/^pod_/);

    const running = await podReaches(stack, podId, 'running');
    // Running means its SSH answered where the provider says it is (provider-sim listens there).
    expect(running.ip).toBe('127.0.0.1');
    expect(running.ssh_port).toBeGreaterThan(0);
    expect(await sshAnswers(running.ip, running.ssh_port, 2_000)).toBe(true);
    let instance = (await simInstances(stack)).find((i) => i.tag === podId)!;
    expect(instance).toMatchObject({ provider: 'lium', phase: 'running', gpus: 1 });
    expect(instance.sshKeys).toHaveLength(1);
    expect((await stack.call('GET', '/api/volt/pods')).body.pods.map((p: { id: string }) => p.id)).toContain(podId);

    // Keys changed on a running pod reach its machine before the answer.
    const desk = (await stack.call('POST', '/api/volt/ssh-keys', { body: { name: 'desk', public_key: generateSshKey().line } })).body;
    expect((await stack.call('PUT', `/api/volt/pods/${podId}`, { body: { ssh_key_ids: [desk.id] } })).status).toBe(200);
    expect((await simInstances(stack)).find((i) => i.tag === podId)!.sshKeys).toEqual([desk.public_key]);
    const renamed = await stack.call('PUT', `/api/volt/pods/${podId}`, { body: { name: 'training-run-v2', ssh_key_ids: [] } });
    expect(renamed.body).toEqual({ id: podId, name: 'training-run-v2', status: 'running', ssh_keys: [], volume_size_gb: 50, gpu_count: 1, message: 'Pod updated successfully.' });
    expect((await simInstances(stack)).find((i) => i.tag === podId)!.sshKeys).toEqual([]);
    const tooEarly = await stack.call('PUT', `/api/volt/pods/${podId}`, { body: { gpu_count: 2 } });
    expect(tooEarly.status).toBe(409);
    expect(tooEarly.body.message).toMatch(/Stop the pod/);

    const started = await stack.call('POST', `/api/volt/pods/${podId}/start`);
    expect(started.body).toEqual({ id: podId, status: 'running', message: 'Pod is already running; nothing to do.' });
    const stopping = await stack.call('POST', `/api/volt/pods/${podId}/stop`);
    expect(stopping.body).toEqual({ id: podId, status: 'stopping', message: 'Pod is stopping. Data on /root volume is preserved.' });
    await podReaches(stack, podId, 'stopped');
    expect((await simInstances(stack)).find((i) => i.tag === podId)!.phase).toBe('stopped');
    expect((await stack.call('POST', `/api/volt/pods/${podId}/stop`)).body).toEqual({ id: podId, status: 'stopped', message: 'Pod is already stopped; nothing to do.' });

    const oversized = await stack.call('PUT', `/api/volt/pods/${podId}`, { body: { gpu_count: 5 } });
    expect(oversized.status).toBe(400);
    expect(oversized.body).toMatchObject({ code: 'VALIDATION_ERROR', message: 'Machine mach_rtx4090_01 has 4 GPUs; asked for 5.', details: [{ field: 'gpu_count', rule: 'max' }] });
    // A volume only grows: a smaller one would cut off the data the stop kept.
    const shrunk = await stack.call('PUT', `/api/volt/pods/${podId}`, { body: { volume_size_gb: 20 } });
    expect(shrunk.status).toBe(400);
    expect(shrunk.body).toMatchObject({ code: 'VALIDATION_ERROR', details: [{ field: 'volume_size_gb', rule: 'only_grows', message: 'at least 50' }] });
    const resized = await stack.call('PUT', `/api/volt/pods/${podId}`, { body: { gpu_count: 2, volume_size_gb: 100 } });
    expect(resized.status).toBe(200);
    expect((await stack.call('GET', `/api/volt/pods/${podId}`)).body).toMatchObject({ gpu_count: 2, cpu_cores: 16, ram_gb: 64, volume_size_gb: 100, cost_per_hour: 0.78 });
    expect((await stack.call('POST', `/api/volt/pods/${podId}/start`)).body.status).toBe('starting');
    const again = await podReaches(stack, podId, 'running');
    expect(again.uptime_hours).toBeGreaterThanOrEqual(0);
    instance = (await simInstances(stack)).find((i) => i.tag === podId)!;
    expect(instance).toMatchObject({ phase: 'running', gpus: 2, volumeGb: 100 });

    const deleting = await stack.call('DELETE', `/api/volt/pods/${podId}`);
    expect(deleting.status).toBe(200);
    expect(['deleting', 'deleted']).toContain(deleting.body.status);
    await podReaches(stack, podId, 'deleted');
    expect((await simInstances(stack)).some((i) => i.tag === podId)).toBe(false);
    expect((await stack.call('GET', '/api/volt/pods')).body.pods.map((p: { id: string }) => p.id)).not.toContain(podId);
    expect((await stack.call('GET', '/api/volt/pods?status=deleted')).body.pods.map((p: { id: string }) => p.id)).toContain(podId);
    expect((await stack.call('DELETE', `/api/volt/pods/${podId}`)).body.status).toBe('deleted');

    expect(await eventTypes(podId)).toEqual([
      'PodRequested',
      'PodProvisioned',
      'PodRunning',
      'PodUpdated',
      'PodUpdated',
      'PodStopRequested',
      'PodStopped',
      'PodUpdated',
      'PodStartRequested',
      'PodRunning',
      'PodDeleteRequested',
      'PodDeleted',
    ]);
    // Every transition is published on volt.evt.pods.<Event> by the outbox relay.
    await eventually('the relay to publish PodDeleted', async () => published.includes('PodDeleted'));
    sub.unsubscribe();
    for (const type of ['PodRequested', 'PodProvisioned', 'PodRunning', 'PodStopRequested', 'PodStopped', 'PodStartRequested', 'PodDeleteRequested', 'PodDeleted']) expect(published).toContain(type);
  });

  it('keeps a pod stopped, with its machine and volume, when the provider has not the GPUs to start it', async () => {
    const big = (await stack.call('POST', '/api/volt/pods', { body: lium({ name: 'big' }) })).body;
    await podReaches(stack, big.id, 'running');
    expect((await stack.call('POST', `/api/volt/pods/${big.id}/stop`)).status).toBe(200);
    await podReaches(stack, big.id, 'stopped');
    // All four of the machine's GPUs, while stopped; then another pod takes one of them.
    expect((await stack.call('PUT', `/api/volt/pods/${big.id}`, { body: { gpu_count: 4 } })).status).toBe(200);
    const small = (await stack.call('POST', '/api/volt/pods', { body: lium({ name: 'small' }) })).body;
    await podReaches(stack, small.id, 'running');
    const heldBefore = (await stack.call('GET', '/api/volt/balance')).body.held;

    const refused = await stack.call('POST', `/api/volt/pods/${big.id}/start`);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('The pod stays stopped') });
    expect(refused.body.message).toContain('not enough free GPUs');
    expect((await stack.call('GET', `/api/volt/pods/${big.id}`)).body).toMatchObject({ status: 'stopped', gpu_count: 4, status_message: refused.body.message });
    expect((await simInstances(stack)).find((i) => i.tag === big.id)).toMatchObject({ phase: 'stopped', gpus: 1 });
    // The first hour reserved for the start is given back.
    await eventually('the refused start to give its hold back', async () => (await stack.call('GET', '/api/volt/balance')).body.held === heldBefore);
    expect((await eventTypes(big.id)).slice(-2)).toEqual(['PodStartRequested', 'PodStartRefused']);

    // With the GPUs free again, it starts with all four.
    expect((await stack.call('DELETE', `/api/volt/pods/${small.id}`)).status).toBe(200);
    await podReaches(stack, small.id, 'deleted');
    expect((await stack.call('POST', `/api/volt/pods/${big.id}/start`)).body.status).toBe('starting');
    expect(await podReaches(stack, big.id, 'running')).toMatchObject({ gpu_count: 4, cpu_cores: 32, ram_gb: 128, status_message: null });
    expect((await simInstances(stack)).find((i) => i.tag === big.id)).toMatchObject({ phase: 'running', gpus: 4 });
    expect((await stack.call('DELETE', `/api/volt/pods/${big.id}`)).status).toBe(200);
    await podReaches(stack, big.id, 'deleted');
  });
});

describe('the Targon confidential pod lifecycle', () => {
  it('runs only after evidence bound to Volt’s nonce is recorded, signed by the provider’s key', async () => {
    const body = { provider: 'targon', name: 'my-training-server', resource_name: 'h200-small', image: 'pytorch/pytorch:2.5.1-cuda12.4-cudnn9-devel', cost_per_hour: 2.4 };
    const created = await stack.call('POST', '/api/volt/pods', { body });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ status: 'deploying', provider: 'targon', resource_name: 'h200-small', gpu_type: 'H200', cost_per_hour: 2.4, image: body.image, confidential: true, attestation: 'intel_tdx' });
    const podId = created.body.id;
    await podReaches(stack, podId, 'running');
    const events = await new EventStore(stack.db.db).readStream(podStream(podId));
    const types = events.map((e) => e.type);
    expect(types.indexOf('PodAttestationRecorded')).toBeGreaterThan(-1);
    expect(types.indexOf('PodAttestationRecorded')).toBeLessThan(types.indexOf('PodRunning'));
    const evidence = events.find((e) => e.type === 'PodAttestationRecorded')!.data as { nonce: string; quote: Record<string, unknown>; quoteRaw: string; signature: string; signingKey: string };
    expect(evidence.quote.report_data).toBe(evidence.nonce);
    expect(evidence.quote.tee).toBe('intel_tdx');
    const signed = Buffer.from(evidence.quoteRaw, 'base64');
    expect(JSON.parse(signed.toString())).toEqual(evidence.quote);
    expect(verify(null, signed, evidence.signingKey, Buffer.from(evidence.signature, 'base64'))).toBe(true);
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(signed.toString()), report_data: 'ff'.repeat(32) }));
    expect(verify(null, forged, evidence.signingKey, Buffer.from(evidence.signature, 'base64'))).toBe(false);

    // Targon takes key changes on a running server too (its own API: PATCH of the server).
    expect((await stack.call('PUT', `/api/volt/pods/${podId}`, { body: { ssh_key_ids: [keyId] } })).status).toBe(200);
    const laptop = (await stack.call('GET', '/api/volt/ssh-keys')).body.ssh_keys.find((k: { id: string }) => k.id === keyId).public_key;
    expect((await simInstances(stack)).find((i) => i.tag === podId)!.sshKeys).toEqual([laptop]);

    await stack.call('POST', `/api/volt/pods/${podId}/stop`);
    await podReaches(stack, podId, 'stopped');
    // Its GPUs and disk are its resource's, stopped or not: refused, and the pod still says what it has.
    const disk = await stack.call('PUT', `/api/volt/pods/${podId}`, { body: { volume_size_gb: 2000 } });
    expect(disk.status).toBe(400);
    expect(disk.body).toMatchObject({ code: 'VALIDATION_ERROR', details: [{ field: 'volume_size_gb', rule: 'fixed_by_resource' }] });
    expect((await stack.call('GET', `/api/volt/pods/${podId}`)).body.volume_size_gb).toBe((await simInstances(stack)).find((i) => i.tag === podId)!.volumeGb);
    // Keys changed while it is off go to the server at once (Targon's power-on takes none).
    expect((await stack.call('PUT', `/api/volt/pods/${podId}`, { body: { ssh_key_ids: [] } })).status).toBe(200);
    expect((await simInstances(stack)).find((i) => i.tag === podId)!.sshKeys).toEqual([]);
    // A key the organization removes while the server is off leaves it when it is started again (redeployed).
    const spare = (await stack.call('POST', '/api/volt/ssh-keys', { body: { name: 'spare', public_key: generateSshKey().line } })).body;
    expect((await stack.call('PUT', `/api/volt/pods/${podId}`, { body: { ssh_key_ids: [spare.id] } })).status).toBe(200);
    expect((await simInstances(stack)).find((i) => i.tag === podId)!.sshKeys).toEqual([spare.public_key]);
    expect((await stack.call('DELETE', `/api/volt/ssh-keys/${spare.id}`)).status).toBe(200);
    await stack.call('POST', `/api/volt/pods/${podId}/start`);
    expect((await podReaches(stack, podId, 'running')).ssh_keys).toEqual([]);
    expect((await simInstances(stack)).find((i) => i.tag === podId)!.sshKeys).toEqual([]);
    // A confidential pod attests again at every boot, with a new nonce.
    const attestations = (await new EventStore(stack.db.db).readStream(podStream(podId))).filter((e) => e.type === 'PodAttestationRecorded');
    expect(attestations).toHaveLength(2);
    expect((attestations[0].data as { nonce: string }).nonce).not.toBe((attestations[1].data as { nonce: string }).nonce);

    const cheap = await stack.call('POST', '/api/volt/pods', { body: { ...body, cost_per_hour: 1.5 } });
    expect(cheap.status).toBe(409);
    expect(cheap.body.message).toMatch(/2\.40 USD\/hour/);
    await stack.call('DELETE', `/api/volt/pods/${podId}`);
    await podReaches(stack, podId, 'deleted');
    expect((await simInstances(stack)).some((i) => i.tag === podId)).toBe(false);
  });
});

describe('pod requests Volt refuses', () => {
  it('checks the body, the machine, the template and the keys, and keeps organizations apart', async () => {
    const other = await stack.createOrg('Other pods org');
    const otherKey = (await stack.call('POST', '/api/volt/ssh-keys', { key: other.apiKey, body: { name: 'theirs', public_key: generateSshKey().line } })).body.id;
    const cases: [unknown, number, string?][] = [
      [{ ...lium(), gpu_count: 0 }, 400, 'gpu_count'],
      [{ ...lium(), machine_id: 'nope' }, 400, 'machine_id'],
      [{ ...lium(), surprise: true }, 400],
      [{ provider: 'targon', resource_name: 'h900-huge', image: 'x/y:1', cost_per_hour: 3 }, 400, 'resource_name'],
      [{ ...lium(), machine_id: 'mach_unknown_99' }, 404],
      [{ ...lium(), machine_id: 'mach_rtx4090_01', gpu_count: 8 }, 400, 'gpu_count'],
      [{ ...lium(), template_id: 'tpl_missing' }, 400, 'template_id'],
      [{ ...lium(), ssh_key_ids: [otherKey] }, 400, 'ssh_key_ids'],
    ];
    const unknownProvider = await stack.call('POST', '/api/volt/pods', { body: { ...lium(), provider: 'aws' } });
    expect(unknownProvider.body.details).toEqual([{ field: 'provider', rule: 'invalid_value', message: 'expected "lium" (the default) or "targon"' }]);
    for (const [body, status, field] of cases) {
      const r = await stack.call('POST', '/api/volt/pods', { body });
      expect([JSON.stringify(body), r.status]).toEqual([JSON.stringify(body), status]);
      expect(r.body).toMatchObject({ error: true, status, code: expect.any(String) });
      if (field) expect(r.body.details.map((d: { field: string }) => d.field)).toContain(field);
    }
    const mine = (await stack.call('POST', '/api/volt/pods', { body: lium() })).body.id;
    for (const [method, path] of [['GET', ''], ['POST', '/stop'], ['DELETE', ''], ['GET', '/can-terminate']] as const) {
      expect((await stack.call(method, `/api/volt/pods/${mine}${path}`, { key: other.apiKey })).status).toBe(404);
    }
    expect((await stack.call('GET', '/api/volt/pods', { key: other.apiKey })).body).toEqual({ pods: [], total: 0 });
    expect((await stack.call('GET', '/api/volt/pods/pod_doesnotexist')).status).toBe(404);
    await stack.call('DELETE', `/api/volt/pods/${mine}`);
    await podReaches(stack, mine, 'deleted');
  });
});

describe('spot pods', () => {
  it('reports the minimum runtime and refuses an early stop or delete; a reclaim ends the pod as terminated-provider', async () => {
    const podId = (await stack.call('POST', '/api/volt/pods', { body: lium({ machine_id: 'mach_rtx4090_02' }) })).body.id;
    await podReaches(stack, podId, 'running');
    expect((await stack.call('GET', `/api/volt/pods/${podId}/can-terminate`)).body).toEqual({ canTerminate: false, runtime: 0, timeRemaining: 20, minimumRuntime: 20 });
    const early = await stack.call('DELETE', `/api/volt/pods/${podId}`);
    expect(early.status).toBe(409);
    expect(early.body.message).toMatch(/can-terminate/);
    // A stop would end its run as surely (and a stopped pod may be deleted): refused the same way.
    const stop = await stack.call('POST', `/api/volt/pods/${podId}/stop`);
    expect(stop.status).toBe(409);
    expect(stop.body).toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/^Spot pods run at least 20 minutes before they can be stopped or deleted; this one has run 0\./) });
    expect((await stack.call('GET', `/api/volt/pods/${podId}`)).body.status).toBe('running');
    const instance = (await simInstances(stack)).find((i) => i.tag === podId)!;
    await fetch(`${stack.sim.url}/admin/instances/${instance.id}/reclaim`, { method: 'POST' });
    const ended = await podReaches(stack, podId, 'terminated-provider');
    expect(ended).toMatchObject({ reason: 'spot_reclaimed', status_message: expect.stringMatching(/reclaimed/) });
    await eventually('the reclaimed instance to be destroyed', async () => !(await simInstances(stack)).some((i) => i.tag === podId));
    expect((await stack.call('GET', `/api/volt/pods/${podId}/can-terminate`)).body.canTerminate).toBe(true);
  });
});

// Last: by now the pods above have been created, run, updated, stopped, resized, started,
// failed, reclaimed and deleted, their events applied a few at a time as they came.
describe('the pods read model', () => {
  it('is rebuilt from the store, every event in one batch, exactly as it was built', async () => {
    const rows = async () => (await sql<{ row: string }>`SELECT row_to_json(s)::text AS row FROM pods_sessions s ORDER BY pod_id`.execute(stack.db.db)).rows;
    await stack.pods.runtime.projections.waitForHead();
    const built = await rows();
    expect(built.length).toBeGreaterThan(5);
    // Some ran and stopped: their time running was folded in.
    expect(built.some((r) => (JSON.parse(r.row) as { run_seconds: number }).run_seconds > 0)).toBe(true);
    await stack.pods.runtime.projections.rebuild('pods.sessions');
    expect(await rows()).toEqual(built);
  });
});
