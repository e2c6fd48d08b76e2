import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventStore, eventStoreMigrations } from '@volt/event-store';
import { podStream } from '@volt/pods-contracts';
import { Keyring } from '@volt/secrets';
import { createTestDatabase, type TestDatabase } from '@volt/testing';
import { podsMigrations } from '../migrations';
import { Providers } from '../providers/providers';
import { PodLifecycle } from './pods.handlers';
import { systemEnvelope } from './system-envelope';

// What the pods service tells the ledger when a pod stops running or ends: each run's hold once,
// and again when a command is repeated after its first run may have died before telling it.
let t: TestDatabase;
let lifecycle: PodLifecycle;
const released: string[] = [];
const placed: string[] = [];
let ledgerDown = false;
let dieAfterPlacing = false;

beforeAll(async () => {
  t = await createTestDatabase([eventStoreMigrations, podsMigrations]);
  const holds = {
    async place(_tenantId: string, hold: { holdId: string }) {
      placed.push(hold.holdId);
      // A placing that the process did not live to follow up, as when it dies right after.
      if (dieAfterPlacing) {
        dieAfterPlacing = false;
        throw new Error('the process died after the hold was placed');
      }
      return { ok: true as const };
    },
    async release(_tenantId: string, holdId: string) {
      // A release that never reached the ledger, as when the process dies right after the append.
      if (ledgerDown) throw new Error('the process died before the ledger heard');
      released.push(holdId);
    },
  };
  // No decision here reaches a provider: an address nothing listens on.
  const http = { timeoutMs: 100, retries: 0, backoffMs: 10, breakerThreshold: 5, breakerCooldownMs: 1000 };
  const providers = new Providers({ liumUrl: 'http://127.0.0.1:9/lium', targonUrl: 'http://127.0.0.1:9/targon', http });
  lifecycle = new PodLifecycle({ db: t.db, store: new EventStore(t.db), providers, holds, keyring: Keyring.parse(Keyring.generate('test1')) });
});
afterAll(() => t?.drop());

const at = () => new Date().toISOString();
const envelope = (id: string) => systemEnvelope('org_a', id, 'corr', 'test');

async function runningPod(podId: string, sshKeyIds: string[] = []) {
  const requested = {
    podId, name: podId, provider: 'lium' as const, machineId: 'm1', offerId: 'o1', resourceName: null, gpuType: 'H100', gpuCount: 1, cpuCores: 8, ramGb: 64,
    location: 'EU', instanceType: 'dedicated' as const, minimumRuntimeMinutes: 0, pricePerGpuHour: 2, costPerHour: 2, volumeSizeGb: 50, templateId: null,
    image: 'img', sshKeyIds, confidential: false, holdId: `${podId}:run:0`, requestedAt: at(),
  };
  for (const [i, command] of [
    { type: 'RequestPod', data: requested },
    { type: 'RecordProvisioned', data: { podId, instanceId: `i-${podId}`, at: at() } },
    { type: 'MarkRunning', data: { podId, ip: '203.0.113.9', sshPort: 40000, at: at() } },
  ].entries()) {
    expect(await lifecycle.decide(envelope(`${podId}-setup-${i}`), command as never)).toMatchObject({ ok: true });
  }
}

describe('a pod’s hold given back', () => {
  it('once: a delete after a stop tells the ledger nothing more', async () => {
    await runningPod('pod_h1');
    await lifecycle.decide(envelope('h1-stop'), { type: 'RequestStop', data: { podId: 'pod_h1', reason: null, at: at() } });
    expect(released).toEqual(['pod_h1:run:0']);
    await lifecycle.decide(envelope('h1-delete'), { type: 'RequestDelete', data: { podId: 'pod_h1', at: at() } });
    expect(released).toEqual(['pod_h1:run:0']);
  });

  it('again when the command is repeated, after its first run died before the ledger heard', async () => {
    released.length = 0;
    await runningPod('pod_h2');
    ledgerDown = true;
    await expect(lifecycle.decide(envelope('h2-stop'), { type: 'RequestStop', data: { podId: 'pod_h2', reason: null, at: at() } })).rejects.toThrow('died');
    ledgerDown = false;
    // A later command appends meanwhile; the repeat still names the hold its own events gave back.
    await lifecycle.decide(envelope('h2-delete'), { type: 'RequestDelete', data: { podId: 'pod_h2', at: at() } });
    expect(released).toEqual([]);
    const repeat = await lifecycle.decide(envelope('h2-stop'), { type: 'RequestStop', data: { podId: 'pod_h2', reason: null, at: at() } });
    expect(repeat).toMatchObject({ ok: true, replayed: true, events: [{ type: 'PodStopRequested' }] });
    expect(released).toEqual(['pod_h2:run:0']);
  });
});

describe('a start of a stopped pod', () => {
  it('drops the keys its organization removed once, and a redelivery after a crash places the same hold', async () => {
    const key = (keyId: string, removedAt: Date | null) => ({
      tenant_id: 'org_a', key_id: keyId, name: keyId, public_key: `ssh-ed25519 ${keyId}`, key_type: 'ssh-ed25519', fingerprint: `SHA256:${keyId}`, created_at: new Date(), removed_at: removedAt,
    });
    await t.db.insertInto('pods_ssh_keys').values([key('key_kept', null), key('key_gone', new Date())]).execute();
    await runningPod('pod_s1', ['key_kept', 'key_gone']);
    await lifecycle.decide(envelope('s1-stop'), { type: 'RequestStop', data: { podId: 'pod_s1', reason: null, at: at() } });
    await lifecycle.decide(envelope('s1-stopped'), { type: 'MarkStopped', data: { podId: 'pod_s1', at: at() } });
    const start = { ...envelope('s1-start'), type: 'pods.StartPod', data: { podId: 'pod_s1', requestedAt: at() } };
    placed.length = 0;
    dieAfterPlacing = true;
    await expect(lifecycle.start(start)).rejects.toThrow('died');
    // Redelivered: the keys are dropped already, and the hold it names is the one placed before.
    const reply = await lifecycle.start(start);
    expect(reply).toMatchObject({ ok: true, result: { status: 'starting' } });
    expect(placed).toHaveLength(2);
    expect(placed[1]).toBe(placed[0]);
    const events = await new EventStore(t.db).readStream(podStream('pod_s1'));
    const updates = events.filter((e) => e.type === 'PodUpdated');
    expect(updates.map((e) => (e.data as { sshKeyIds?: string[] }).sshKeyIds)).toEqual([['key_kept']]);
  });
});

describe('a create made again after a crash', () => {
  it('gives the machine the SSH keys the pod has now, not those it was requested with', async () => {
    const key = (keyId: string) => ({ tenant_id: 'org_a', key_id: keyId, name: keyId, public_key: `ssh-ed25519 ${keyId}`, key_type: 'ssh-ed25519', fingerprint: `SHA256:${keyId}`, created_at: new Date(), removed_at: null });
    await t.db.insertInto('pods_ssh_keys').values([key('key_first'), key('key_later')]).execute();
    await runningPod('pod_r1', ['key_first']);
    // Only requested, as when the service died before the provider call; then a PUT of its keys.
    const again = { podId: 'pod_r2', name: 'pod_r2', sshKeyIds: ['key_first'] };
    const requested = (await new EventStore(t.db).readStream(podStream('pod_r1')))[0].data as Record<string, unknown>;
    expect(await lifecycle.decide(envelope('r2-request'), { type: 'RequestPod', data: { ...requested, ...again, holdId: 'pod_r2:run:0', requestedAt: at() } } as never)).toMatchObject({ ok: true });
    expect(await lifecycle.decide(envelope('r2-put'), { type: 'UpdatePod', data: { podId: 'pod_r2', sshKeyIds: ['key_later', 'key_first'], at: at() } })).toMatchObject({ ok: true });
    const redone = await lifecycle.respec({ pod_id: 'pod_r2', tenant_id: 'org_a' });
    expect(redone).toMatchObject({ requested: { podId: 'pod_r2' }, spec: { tag: 'pod_r2', sshKeys: ['ssh-ed25519 key_later', 'ssh-ed25519 key_first'] } });
  });
});
