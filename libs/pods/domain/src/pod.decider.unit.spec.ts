import { describe, expect, it } from 'vitest';
import { given } from '@volt/testing';
import { machineShare, podDecider, runtimeMinutes, type PodEvent } from './pod.decider';
import { fold } from '@volt/domain';

const t = (s: number) => new Date(Date.UTC(2026, 10, 23, 10, 0, s)).toISOString();
const requested = (over: Partial<Extract<PodEvent, { type: 'PodRequested' }>['data']> = {}): PodEvent => ({
  type: 'PodRequested',
  data: {
    podId: 'pod_a',
    name: 'a',
    provider: 'lium',
    machineId: 'mach_rtx4090_01',
    offerId: 'rtx4090_01',
    resourceName: null,
    gpuType: 'RTX 4090',
    gpuCount: 1,
    cpuCores: 8,
    ramGb: 32,
    location: 'US-East',
    instanceType: 'dedicated',
    minimumRuntimeMinutes: 0,
    pricePerGpuHour: 0.39,
    costPerHour: 0.39,
    volumeSizeGb: 50,
    templateId: 'tpl_pytorch21',
    image: 'pytorch/pytorch:2.1.0',
    sshKeyIds: [],
    confidential: false,
    holdId: null,
    requestedAt: t(0),
    ...over,
  },
});
const provisioned: PodEvent = { type: 'PodProvisioned', data: { podId: 'pod_a', instanceId: 'i-1', at: t(1) } };
const running: PodEvent = { type: 'PodRunning', data: { podId: 'pod_a', ip: '203.0.113.2', sshPort: 40000, at: t(10) } };

describe('pod decider', () => {
  it('records an instance once, and only while deploying', () => {
    given(podDecider, [requested()]).when({ type: 'RecordProvisioned', data: { podId: 'pod_a', instanceId: 'i-1', at: t(1) } }).then([provisioned]);
    given(podDecider, [requested(), provisioned]).when({ type: 'RecordProvisioned', data: { podId: 'pod_a', instanceId: 'i-2', at: t(2) } }).then([]);
  });

  it('refuses to run a confidential pod before its evidence is recorded', () => {
    const confidential = requested({ provider: 'targon', confidential: true });
    given(podDecider, [confidential, provisioned]).when({ type: 'MarkRunning', data: { podId: 'pod_a', ip: null, sshPort: null, at: t(5) } }).thenError('CONFLICT');
    const evidence: PodEvent = { type: 'PodAttestationRecorded', data: { podId: 'pod_a', instanceId: 'i-1', nonce: 'ab', quote: {}, quoteRaw: '', signature: '', signingKey: '', at: t(4) } };
    given(podDecider, [confidential, provisioned, evidence]).when({ type: 'MarkRunning', data: { podId: 'pod_a', ip: null, sshPort: null, at: t(5) } }).then([
      { type: 'PodRunning', data: { podId: 'pod_a', ip: null, sshPort: null, at: t(5) } },
    ]);
  });

  it('makes stop on a stopped pod and start on a running pod no-ops, and refuses the impossible', () => {
    const stopped: PodEvent[] = [requested(), provisioned, running, { type: 'PodStopRequested', data: { podId: 'pod_a', reason: null, at: t(20) } }, { type: 'PodStopped', data: { podId: 'pod_a', at: t(21) } }];
    given(podDecider, stopped).when({ type: 'RequestStop', data: { podId: 'pod_a', reason: null, at: t(30) } }).then([]);
    given(podDecider, [requested(), provisioned, running]).when({ type: 'RequestStart', data: { podId: 'pod_a', holdId: null, at: t(30) } }).then([]);
    given(podDecider, [requested()]).when({ type: 'RequestStop', data: { podId: 'pod_a', reason: null, at: t(30) } }).thenError('CONFLICT');
    given(podDecider).when({ type: 'RequestStart', data: { podId: 'pod_a', holdId: null, at: t(30) } }).thenError('NOT_FOUND');
  });

  it('changes hardware only while stopped, and reprices GPUs at the launch rate', () => {
    given(podDecider, [requested(), provisioned, running]).when({ type: 'UpdatePod', data: { podId: 'pod_a', gpuCount: 2, at: t(30) } }).thenError('CONFLICT');
    given(podDecider, [requested(), provisioned, running]).when({ type: 'UpdatePod', data: { podId: 'pod_a', name: 'b', at: t(30) } }).then([{ type: 'PodUpdated', data: { podId: 'pod_a', name: 'b', at: t(30) } }]);
    const stopped: PodEvent[] = [requested(), provisioned, running, { type: 'PodStopRequested', data: { podId: 'pod_a', reason: null, at: t(20) } }, { type: 'PodStopped', data: { podId: 'pod_a', at: t(21) } }];
    given(podDecider, stopped).when({ type: 'UpdatePod', data: { podId: 'pod_a', gpuCount: 3, at: t(30) } }).then([{ type: 'PodUpdated', data: { podId: 'pod_a', gpuCount: 3, costPerHour: 1.17, at: t(30) } }]);
    // With the machine's share for the new count; a share without a change of count changes nothing.
    const share = machineShare({ gpuCount: 8, cpuCores: 64, ramGb: 256 }, 3);
    expect(share).toEqual({ cpuCores: 24, ramGb: 96 });
    given(podDecider, stopped).when({ type: 'UpdatePod', data: { podId: 'pod_a', gpuCount: 3, share, at: t(30) } }).then([{ type: 'PodUpdated', data: { podId: 'pod_a', gpuCount: 3, costPerHour: 1.17, cpuCores: 24, ramGb: 96, at: t(30) } }]);
    given(podDecider, stopped).when({ type: 'UpdatePod', data: { podId: 'pod_a', gpuCount: 1, share, at: t(30) } }).then([]);
  });

  it('refuses what no stop makes possible: a smaller volume, a Targon pod’s GPUs or disk', () => {
    const stop: PodEvent[] = [provisioned, running, { type: 'PodStopRequested', data: { podId: 'pod_a', reason: null, at: t(20) } }, { type: 'PodStopped', data: { podId: 'pod_a', at: t(21) } }];
    const update = (data: { volumeSizeGb?: number; gpuCount?: number }) => ({ type: 'UpdatePod' as const, data: { podId: 'pod_a', ...data, at: t(30) } });
    // A volume grows while stopped; it never shrinks, running or stopped (told so, not told to stop first).
    given(podDecider, [requested(), ...stop]).when(update({ volumeSizeGb: 80 })).then([{ type: 'PodUpdated', data: { podId: 'pod_a', volumeSizeGb: 80, at: t(30) } }]);
    given(podDecider, [requested(), ...stop]).when(update({ volumeSizeGb: 49 })).thenError('VALIDATION_ERROR');
    given(podDecider, [requested(), provisioned, running]).when(update({ volumeSizeGb: 10 })).thenError('VALIDATION_ERROR');
    given(podDecider, [requested(), provisioned, running]).when(update({ volumeSizeGb: 80 })).thenError('CONFLICT');
    // A Targon pod's hardware is its resource's.
    const targon = requested({ provider: 'targon', confidential: true, volumeSizeGb: 1000 });
    given(podDecider, [targon, ...stop]).when(update({ volumeSizeGb: 2000 })).thenError('VALIDATION_ERROR');
    given(podDecider, [targon, provisioned, running]).when(update({ gpuCount: 2 })).thenError('VALIDATION_ERROR');
    given(podDecider, [targon, ...stop]).when(update({ volumeSizeGb: 1000, gpuCount: 1 })).then([]);
  });

  it('takes a start the provider refused back to stopped, once, and only while starting', () => {
    const stopped: PodEvent[] = [requested(), provisioned, running, { type: 'PodStopRequested', data: { podId: 'pod_a', reason: null, at: t(20) } }, { type: 'PodStopped', data: { podId: 'pod_a', at: t(21) } }];
    const starting: PodEvent[] = [...stopped, { type: 'PodStartRequested', data: { podId: 'pod_a', holdId: 'pod_a:run:5', at: t(30) } }];
    const refuse = { type: 'RefuseStart' as const, data: { podId: 'pod_a', message: 'no GPUs', at: t(31) } };
    given(podDecider, starting).when(refuse).then([{ type: 'PodStartRefused', data: { podId: 'pod_a', message: 'no GPUs', at: t(31) } }]);
    given(podDecider, stopped).when(refuse).then([]);
    const refused: PodEvent[] = [...starting, { type: 'PodStartRefused', data: { podId: 'pod_a', message: 'no GPUs', at: t(31) } }];
    given(podDecider, refused).when(refuse).then([]);
    given(podDecider, refused).when({ type: 'RequestStart', data: { podId: 'pod_a', holdId: 'pod_a:run:6', at: t(40) } }).then([{ type: 'PodStartRequested', data: { podId: 'pod_a', holdId: 'pod_a:run:6', at: t(40) } }]);
  });

  it('gives each run’s hold back once: a delete after a stop finds none left to release', () => {
    const stop: PodEvent = { type: 'PodStopRequested', data: { podId: 'pod_a', reason: null, at: t(20) } };
    const del: PodEvent = { type: 'PodDeleteRequested', data: { podId: 'pod_a', at: t(40) } };
    const placed = [requested({ holdId: 'pod_a:run:0' }), provisioned, running];
    expect(fold(podDecider, placed)).toMatchObject({ holdId: 'pod_a:run:0', releasedHoldId: null });
    expect(fold(podDecider, [...placed, stop])).toMatchObject({ holdId: null, releasedHoldId: 'pod_a:run:0' });
    const stopped = [...placed, stop, { type: 'PodStopped', data: { podId: 'pod_a', at: t(21) } } as PodEvent];
    expect(fold(podDecider, [...stopped, del])).toMatchObject({ holdId: null, releasedHoldId: null });
    // Deleted while running: the delete gives the hold back.
    expect(fold(podDecider, [...placed, del])).toMatchObject({ holdId: null, releasedHoldId: 'pod_a:run:0' });
    // A start places the next run's hold, and a refusal of it gives that one back.
    const starting = [...stopped, { type: 'PodStartRequested', data: { podId: 'pod_a', holdId: 'pod_a:run:5', at: t(30) } } as PodEvent];
    expect(fold(podDecider, starting)).toMatchObject({ holdId: 'pod_a:run:5' });
    const refused = [...starting, { type: 'PodStartRefused', data: { podId: 'pod_a', message: 'no GPUs', at: t(31) } } as PodEvent];
    expect(fold(podDecider, refused)).toMatchObject({ holdId: null, releasedHoldId: 'pod_a:run:5' });
  });

  it('gives a pod its machine’s CPU and memory in proportion to its GPUs, never none', () => {
    expect(machineShare({ gpuCount: 4, cpuCores: 32, ramGb: 128 }, 1)).toEqual({ cpuCores: 8, ramGb: 32 });
    expect(machineShare({ gpuCount: 4, cpuCores: 32, ramGb: 128 }, 4)).toEqual({ cpuCores: 32, ramGb: 128 });
    expect(machineShare({ gpuCount: 8, cpuCores: 6, ramGb: 4 }, 1)).toEqual({ cpuCores: 1, ramGb: 1 });
  });

  it('records a running machine’s new address once, and only while it runs', () => {
    const at = (ip: string | null, sshPort: number | null) => ({ type: 'RecordAddress' as const, data: { podId: 'pod_a', ip, sshPort, at: t(30) } });
    given(podDecider, [requested(), provisioned, running]).when(at('203.0.113.2', 40000)).then([]);
    given(podDecider, [requested(), provisioned, running]).when(at('203.0.113.2', 40001)).then([{ type: 'PodAddressChanged', data: { podId: 'pod_a', ip: '203.0.113.2', sshPort: 40001, at: t(30) } }]);
    const moved: PodEvent = { type: 'PodAddressChanged', data: { podId: 'pod_a', ip: '203.0.113.9', sshPort: 22, at: t(20) } };
    given(podDecider, [requested(), provisioned, running, moved]).when(at('203.0.113.9', 22)).then([]);
    // And back where it was: the move back is recorded too.
    given(podDecider, [requested(), provisioned, running, moved]).when(at('203.0.113.2', 40000)).then([{ type: 'PodAddressChanged', data: { podId: 'pod_a', ip: '203.0.113.2', sshPort: 40000, at: t(30) } }]);
    given(podDecider, [requested(), provisioned]).when(at('203.0.113.9', 22)).then([]);
  });

  it('records a machine’s SSH going silent (running, or up at the provider while booting) and answering again, each change once', () => {
    const ssh = (answering: boolean) => ({ type: 'RecordSsh' as const, data: { podId: 'pod_a', answering, message: 'silent', at: t(30) } });
    const silent: PodEvent = { type: 'PodSshSilent', data: { podId: 'pod_a', message: 'silent', at: t(20) } };
    const silentNow: PodEvent[] = [{ type: 'PodSshSilent', data: { podId: 'pod_a', message: 'silent', at: t(30) } }];
    given(podDecider, [requested(), provisioned, running]).when(ssh(true)).then([]);
    given(podDecider, [requested(), provisioned, running]).when(ssh(false)).then(silentNow);
    given(podDecider, [requested(), provisioned, running, silent]).when(ssh(false)).then([]);
    given(podDecider, [requested(), provisioned, running, silent]).when(ssh(true)).then([{ type: 'PodSshAnswered', data: { podId: 'pod_a', at: t(30) } }]);
    // Booting: the silence is recorded once; the answer that ends it is PodRunning, which starts verified.
    given(podDecider, [requested(), provisioned]).when(ssh(false)).then(silentNow);
    given(podDecider, [requested(), provisioned, silent]).when(ssh(false)).then([]);
    given(podDecider, [requested(), provisioned]).when(ssh(true)).then([]);
    given(podDecider, [requested(), provisioned, silent, running]).when(ssh(true)).then([]);
    given(podDecider, [requested(), provisioned, silent, running]).when(ssh(false)).then(silentNow);
    // Not while stopping or stopped; and a start boots afresh.
    const stopping: PodEvent = { type: 'PodStopRequested', data: { podId: 'pod_a', reason: null, at: t(25) } };
    given(podDecider, [requested(), provisioned, running, stopping]).when(ssh(false)).then([]);
    const stopped: PodEvent[] = [stopping, { type: 'PodStopped', data: { podId: 'pod_a', at: t(26) } }];
    given(podDecider, [requested(), provisioned, running, silent, ...stopped]).when(ssh(false)).then([]);
    const starting: PodEvent = { type: 'PodStartRequested', data: { podId: 'pod_a', holdId: null, at: t(27) } };
    given(podDecider, [requested(), provisioned, running, silent, ...stopped, starting]).when(ssh(false)).then(silentNow);
    given(podDecider, [requested(), provisioned, running, silent, ...stopped, starting, running]).when(ssh(true)).then([]);
  });

  it('holds a spot pod to its minimum runtime, counting only running time', () => {
    const spot = [requested({ instanceType: 'spot', minimumRuntimeMinutes: 20 }), provisioned, running];
    given(podDecider, spot).when({ type: 'RequestDelete', data: { podId: 'pod_a', at: t(10 + 60 * 19) } }).thenError('CONFLICT');
    given(podDecider, spot).when({ type: 'RequestDelete', data: { podId: 'pod_a', at: t(10 + 60 * 20) } }).then([{ type: 'PodDeleteRequested', data: { podId: 'pod_a', at: t(10 + 60 * 20) } }]);
    const state = fold(podDecider, [...spot, { type: 'PodStopRequested', data: { podId: 'pod_a', reason: null, at: t(10 + 300) } }]);
    expect(runtimeMinutes(state, t(10_000))).toBe(5);
  });

  it('refuses a customer’s early stop of a spot pod as it refuses its delete, but not billing’s stop for want of money', () => {
    const spot = [requested({ instanceType: 'spot', minimumRuntimeMinutes: 20 }), provisioned, running];
    const stop = (seconds: number, reason: 'insufficient_balance' | null = null) => ({ type: 'RequestStop' as const, data: { podId: 'pod_a', reason, at: t(10 + seconds) } });
    expect(given(podDecider, spot).when(stop(60 * 19)).thenError('CONFLICT').message).toBe(
      'Spot pods run at least 20 minutes before they can be stopped or deleted; this one has run 19. See GET /api/volt/pods/pod_a/can-terminate.',
    );
    given(podDecider, spot).when(stop(60 * 20)).then([{ type: 'PodStopRequested', data: { podId: 'pod_a', reason: null, at: t(10 + 60 * 20) } }]);
    given(podDecider, spot).when(stop(60, 'insufficient_balance')).then([{ type: 'PodStopRequested', data: { podId: 'pod_a', reason: 'insufficient_balance', at: t(70) } }]);
    // Stopped for want of money at 5 minutes, started again: 15 more minutes before a stop or delete.
    const again = [...spot, { type: 'PodStopRequested', data: { podId: 'pod_a', reason: 'insufficient_balance', at: t(310) } }, { type: 'PodStopped', data: { podId: 'pod_a', at: t(320) } }, { type: 'PodStartRequested', data: { podId: 'pod_a', holdId: null, at: t(400) } }, { ...running, data: { ...running.data, at: t(410) } }] as PodEvent[];
    given(podDecider, again).when({ type: 'RequestDelete', data: { podId: 'pod_a', at: t(410 + 60 * 14) } }).thenError('CONFLICT');
    given(podDecider, again).when(stop(400 + 60 * 15)).then([{ type: 'PodStopRequested', data: { podId: 'pod_a', reason: null, at: t(410 + 60 * 15) } }]);
  });

  it('drops a verdict reached on a state the pod has since left', () => {
    const stopping: PodEvent[] = [requested(), provisioned, running, { type: 'PodStopRequested', data: { podId: 'pod_a', reason: null, at: t(20) } }];
    // The reconciler saw "running" and an instance that had stopped; the customer's stop explains it.
    given(podDecider, stopping).when({ type: 'MarkTerminated', data: { podId: 'pod_a', reason: 'provider_stopped', message: 'x', whenStatus: 'running', at: t(21) } }).then([]);
    given(podDecider, stopping).when({ type: 'Fail', data: { podId: 'pod_a', reason: 'provisioning_timeout', message: 'x', whenStatus: 'deploying', at: t(21) } }).then([]);
  });

  it('never goes back from a terminal state', () => {
    const failed: PodEvent[] = [requested(), { type: 'PodFailed', data: { podId: 'pod_a', reason: 'stale_inventory', message: 'gone', at: t(1) } }];
    given(podDecider, failed).when({ type: 'RecordProvisioned', data: { podId: 'pod_a', instanceId: 'i-9', at: t(2) } }).then([]);
    given(podDecider, failed).when({ type: 'MarkRunning', data: { podId: 'pod_a', ip: null, sshPort: null, at: t(3) } }).then([]);
    given(podDecider, failed).when({ type: 'MarkTerminated', data: { podId: 'pod_a', reason: 'instance_lost', message: 'x', at: t(3) } }).then([]);
    given(podDecider, failed).when({ type: 'RequestStart', data: { podId: 'pod_a', holdId: null, at: t(3) } }).thenError('CONFLICT');
    given(podDecider, failed).when({ type: 'RequestDelete', data: { podId: 'pod_a', at: t(3) } }).then([{ type: 'PodDeleteRequested', data: { podId: 'pod_a', at: t(3) } }]);
  });
});
