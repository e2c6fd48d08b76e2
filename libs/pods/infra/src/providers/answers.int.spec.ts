import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderHttp } from './http-client';
import { LiumAdapter } from './lium.adapter';
import { ProviderUnavailableError } from './port';
import { TargonAdapter } from './targon.adapter';

// A real HTTP server answering, for each path, the body the test gives it (with a 200 or 201),
// as a provider whose API changed or broke would: what Volt cannot read never reaches the
// catalogue or a pod.
const answers = new Map<string, { status: number; text: string }>();
let server: http.Server;
let baseUrl: string;
beforeAll(async () => {
  server = http.createServer((req, res) => {
    const answer = answers.get(`${req.method} ${req.url?.split('?')[0]}`) ?? { status: 404, text: '{"detail":"not found"}' };
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.text);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));

const answer = (route: string, body: unknown, status = 200) => answers.set(route, { status, text: typeof body === 'string' ? body : JSON.stringify(body) });
const http0 = (provider: 'lium' | 'targon') => new ProviderHttp(provider, { baseUrl, timeoutMs: 1_000, retries: 0, backoffMs: 5, breakerThreshold: 100, breakerCooldownMs: 100 });

const executor = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  gpu_model: 'H100 80GB',
  gpu_count: 8,
  gpu_memory_gb: 80,
  cpu_count: 128,
  memory_gb: 1024,
  disk_gb: 2000,
  price_per_gpu_hour: 2.49,
  free_gpus: 8,
  region: 'eu-west',
  rental: 'on_demand',
  min_rental_minutes: 0,
  ...extra,
});
const liumPod = (id: string, extra: Record<string, unknown> = {}) => ({ id, tag: `pod_${id}`, executor_id: 'h100_01', state: 'RUNNING', public_ip: '10.0.0.1', ssh_port: 22, created_at: '2026-12-02T10:00:00.000Z', ...extra });

describe('provider answers Volt cannot read', () => {
  it('leaves an offer it cannot read out of the catalogue and lists the others', async () => {
    answer('GET /v1/executors', {
      executors: [executor('good_1'), executor('price_as_text', { price_per_gpu_hour: '2.49' }), executor('half_a_gpu', { gpu_count: 0.5 }), { id: 'bare' }, executor('good_2', { rental: 'spot' })],
    });
    const offers = await new LiumAdapter(http0('lium')).listOffers();
    expect(offers.map((o) => [o.offerId, o.instanceType])).toEqual([
      ['good_1', 'dedicated'],
      ['good_2', 'spot'],
    ]);
  });

  it('fails the call, as an outage, for a list whose shape it cannot read or a 200 that is not JSON', async () => {
    const lium = new LiumAdapter(http0('lium'));
    for (const body of [{ machines: [] }, '<html>maintenance</html>', '', { executors: 'none' }]) {
      answer('GET /v1/executors', body);
      await expect(lium.listOffers()).rejects.toBeInstanceOf(ProviderUnavailableError);
    }
  });

  it('fails the whole instance list for one instance it cannot read: one left out would look gone to the reconciler', async () => {
    const lium = new LiumAdapter(http0('lium'));
    answer('GET /v1/pods', { pods: [liumPod('a'), liumPod('b')] });
    expect((await lium.listInstances()).map((i) => [i.instanceId, i.state])).toEqual([
      ['a', 'running'],
      ['b', 'running'],
    ]);
    answer('GET /v1/pods', { pods: [liumPod('a'), liumPod('b', { ssh_port: '22' })] });
    await expect(lium.listInstances()).rejects.toThrow(/lium list failed: an answer Volt cannot read \(pods\.1\.ssh_port: /);
  });

  it('fails a create whose answer it cannot read (the reconciler finds the instance by its tag), and Targon evidence it cannot read', async () => {
    answer('POST /v1/pods', { id: 'x1' }, 201);
    await expect(new LiumAdapter(http0('lium')).create({ offerId: 'h100_01', gpuCount: 1, volumeGb: 50, image: 'ubuntu:22.04', sshKeys: [], envVars: {}, ports: [], registryAuth: null, tag: 'pod_x' })).rejects.toBeInstanceOf(ProviderUnavailableError);
    const targon = new TargonAdapter(http0('targon'));
    answer('GET /api/servers/s1/attestation', { data: { quote: { tee: 'intel_tdx' }, quote_raw: 'AAAA', signature: 42, signing_key: 'k' } });
    await expect(targon.attest('s1', 'ab'.repeat(32))).rejects.toThrow(/targon attest failed: an answer Volt cannot read \(data\.signature: /);
    answer('GET /api/servers/s1/attestation', { data: { quote: { tee: 'intel_tdx' }, quote_raw: 'AAAA', signature: 'c2ln', signing_key: 'k' } });
    expect(await targon.attest('s1', 'ab'.repeat(32))).toEqual({ quote: { tee: 'intel_tdx' }, quoteRaw: 'AAAA', signature: 'c2ln', signingKey: 'k' });
  });
});
