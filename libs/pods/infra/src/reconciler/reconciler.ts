import { randomBytes } from 'node:crypto';
import { withSessionLock, type Database, type EventStore } from '@volt/event-store';
import { podStream, type PodReason } from '@volt/pods-contracts';
import { counter, gauge, histogram, type Logger } from '@volt/telemetry';
import type { PodLifecycle } from '../commands/pods.handlers';
import type { ProviderAdapter, ProviderInstance } from '../providers/port';
import type { Providers } from '../providers/providers';
import { countSessions, livePods, podStatuses, runningPodKeys, type PodRow } from '../read-models/pod-sessions/query';
import { SshChecks } from './ssh-checks';

const orphans = counter('gpu_orphans_detected_total', 'Provider instances found that no live Volt pod owns');
const destroyFailures = counter('gpu_destroy_failures_total', 'Destroy calls that failed or did not take effect');
const sessions = gauge('gpu_sessions_active', 'Pods per provider and status', ['provider', 'status']);
const provisioning = histogram('gpu_provisioning_seconds', 'From request (or start) to running, per provider', ['provider', 'phase'], [1, 2, 5, 10, 20, 30, 60, 120, 300, 600]);
const sshVerifySeconds = histogram('gpu_ssh_verify_duration_seconds', 'Checking that a machine the provider calls running answers SSH', ['provider'], [0.005, 0.01, 0.05, 0.1, 0.5, 1, 3, 10]);
const sshVerifyFailures = counter('gpu_ssh_verify_failures_total', 'SSH checks that got no answer: of machines the provider calls running, before and while they run', ['provider']);
const sshUnreachable = gauge('gpu_ssh_unreachable', 'Running pods whose SSH has stopped answering', ['provider']);
const sweepSeconds = histogram('gpu_reconcile_sweep_seconds', 'Duration of one reconciliation sweep', [], [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10]);
const retrying = gauge('volt_reconciler_retries', 'Provider calls the reconciler is repeating with backoff (destroys, stops, starts, creates, key changes)');

export interface ReconcilerOptions {
  /** deploying, starting or stopping longer than this fails with provisioning_timeout. */
  provisionTimeoutMs: number;
  /** A deploying pod with no instance this long after its request is created again (its create crashed). */
  createGraceMs: number;
  /** A tagged instance whose pod Volt has no record of is an orphan once this old (a create may be in flight). */
  orphanGraceMs: number;
  /** First wait between repeated destroy, stop and start calls to one instance; doubles up to a minute. */
  retryBackoffMs: number;
  /** How long a machine has to answer SSH before this sweep counts it as not up yet. */
  sshVerifyTimeoutMs: number;
  /** How often a running pod's SSH is checked again. */
  sshCheckIntervalMs: number;
}

export interface SweepReport {
  swept: boolean;
  orphans: number;
  actions: number;
}

const LOCK = 'volt:pods:reconciler';
/** Checks in a row that a running machine's SSH must miss before the pod says so (one can be a blip). */
const SSH_MISSES_TO_REPORT = 2;
/** How long a sweep waits for a machine about to be called running to answer SSH; a slower one is seen at a later sweep. */
const SSH_VERIFY_WAIT_MS = 250;
/** Pods decided at once in a sweep: enough to keep up, few enough not to crowd out the API's own queries. */
const SWEEP_CONCURRENCY = 8;

async function inBatches<T>(items: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}
const isTerminal = (s: string | undefined) => s === 'deleted' || s === 'failed' || s === 'terminated-provider';

/**
 * Keeps Volt's pods and the providers' instances in agreement. Each sweep lists every
 * provider's instances once, moves each pod to what its provider reports, carries
 * unfinished intents again, and destroys what nobody owns. One instance of the pods
 * service sweeps at a time (a PostgreSQL advisory lock).
 */
export class Reconciler {
  /**
   * Backoff per repeated call (key: `<pod>:<action>`, a deleting pod's id, or an instance id for
   * other destroys), with the sweep that last asked for it. A call that no complete sweep asks for
   * any more is over (its pod moved on, its instance is gone) and is forgotten: the service runs
   * for months, and a pod's next stop starts from the first backoff step, not from its last one.
   * An instance id here is also an instance already counted in gpu_orphans_detected_total.
   */
  private readonly retries = new Map<string, { attempts: number; nextAt: number; sweep: number }>();
  private sweeps = 0;
  /** What SSH checks found, per pod: before a pod is called running, and again and again while it runs. */
  private readonly ssh: SshChecks;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;
  /** Each provider's instances at the last sweep: one gone since has given its GPUs back. */
  private readonly seen = new Map<string, Set<string>>();
  private capacityFreed: (provider: ProviderAdapter) => Promise<void> = async () => undefined;

  constructor(
    private readonly db: Database,
    private readonly store: EventStore,
    private readonly providers: Providers,
    private readonly lifecycle: PodLifecycle,
    private readonly options: ReconcilerOptions,
    private readonly logger?: Logger,
  ) {
    this.ssh = new SshChecks(options.sshVerifyTimeoutMs, ({ podId, provider, address, answered, misses, seconds }) => {
      sshVerifySeconds.observe({ provider }, seconds);
      if (answered) return;
      sshVerifyFailures.inc({ provider });
      if (misses === 1) this.logger?.warn({ podId, address }, 'SSH does not answer where the provider says the machine runs');
    });
  }

  /**
   * `listener` is told of each provider where an instance seen at the sweep before is gone (its
   * GPUs are free again), and waited for before that provider's pods are brought up to date.
   */
  whenCapacityFreed(listener: (provider: ProviderAdapter) => Promise<void>): void {
    this.capacityFreed = listener;
  }

  start(intervalMs: number): void {
    const tick = () => {
      if (this.stopped) return;
      this.running = this.sweep()
        .catch((error) => this.logger?.error({ err: error }, 'reconciliation sweep failed'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, intervalMs);
        });
    };
    this.timer = setTimeout(tick, intervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  async sweep(): Promise<SweepReport> {
    const end = sweepSeconds.startTimer();
    try {
      const sweep = await withSessionLock(this.db, LOCK, (lost) => this.sweepLocked(lost));
      return sweep.held ? sweep.value : { swept: false, orphans: 0, actions: 0 };
    } finally {
      end();
    }
  }

  /** `lost` says the lock went with its connection: another instance may be sweeping now, so act on nothing more. */
  private async sweepLocked(lost: () => Error | undefined): Promise<SweepReport> {
    const report: SweepReport = { swept: true, orphans: 0, actions: 0 };
    const sweep = ++this.sweeps;
    let everyProviderListed = true;
    const [pods, keys] = await Promise.all([livePods(this.db), runningPodKeys(this.db)]);
    const alive = new Set(pods.map((p) => p.pod_id));
    this.ssh.retain(alive);
    await Promise.all(
      this.providers.all.map(async (provider) => {
        let instances: ProviderInstance[];
        try {
          instances = await provider.listInstances();
        } catch (error) {
          this.logger?.warn({ provider: provider.name, err: error }, 'cannot list instances; this provider is not reconciled this sweep');
          everyProviderListed = false;
          return;
        }
        const byTag = new Map<string, ProviderInstance>();
        for (const i of instances) {
          const seen = i.tag ? byTag.get(i.tag) : undefined;
          if (i.tag && (!seen || seen.state === 'terminating')) byTag.set(i.tag, i);
        }
        const before = this.seen.get(provider.name);
        const now = new Set(instances.map((i) => i.instanceId));
        this.seen.set(provider.name, now);
        // First, so that a pod shows deleted only once its GPUs are listed again.
        if (before && [...before].some((id) => !now.has(id))) {
          await this.capacityFreed(provider).catch((error: unknown) => this.logger?.warn({ provider: provider.name, err: error }, 'catalogue refresh after instances went away failed'));
        }
        const mine = pods.filter((p) => p.provider === provider.name);
        const live = new Set(mine.map((p) => p.pod_id));
        await inBatches(mine, SWEEP_CONCURRENCY, async (row) => {
          if (!lost() && (await this.reconcilePod(row, byTag.get(row.pod_id), provider, keys.get(row.pod_id)))) report.actions++;
        });
        if (!lost()) report.orphans += await this.destroyUnowned(provider, instances.filter((i) => !(i.tag && live.has(i.tag))));
      }),
    );
    if (lost()) this.logger?.warn({ actions: report.actions }, 'lost the reconciliation lock; the rest waits for the next sweep');
    // Only a sweep that looked at everything knows which calls nobody needs any more.
    else if (everyProviderListed) for (const [key, retry] of this.retries) if (retry.sweep < sweep) this.retries.delete(key);
    retrying.set(this.retries.size);
    await this.publishGauges();
    return report;
  }

  /** Brings one pod to what its provider reports. Returns whether it did anything. */
  private async reconcilePod(row: PodRow, instance: ProviderInstance | undefined, provider: ProviderAdapter, keys: string[] = []): Promise<boolean> {
    const now = Date.now();
    const since = row.status_at.getTime();
    const overdue = now - since > this.options.provisionTimeoutMs;
    const key = `${row.status}-${since}`;
    const say = (type: 'Fail' | 'MarkTerminated', reason: PodReason, message: string) =>
      this.lifecycle.decideAsSystem(row, { type, data: { podId: row.pod_id, reason, message, whenStatus: row.status, at: new Date().toISOString() } }, `${type}-${key}`);
    const lost = () => say('MarkTerminated', 'instance_lost', `${row.provider} no longer has this pod's instance. Its data is gone; create a new pod.`);
    const reclaimed = () => say('MarkTerminated', 'spot_reclaimed', `${row.provider} reclaimed this spot instance. Create a new pod, or use a dedicated machine to avoid interruptions.`);

    // Going away at the provider: once it is gone, the next sweep records what that means.
    if (instance?.state === 'terminating') return false;
    switch (row.status) {
      case 'deploying':
      case 'starting': {
        if (row.status === 'deploying' && instance && !row.instance_id) {
          await this.lifecycle.decideAsSystem(row, { type: 'RecordProvisioned', data: { podId: row.pod_id, instanceId: instance.instanceId, at: new Date().toISOString() } }, `adopt-${instance.instanceId}`);
          return true;
        }
        if (overdue) {
          const within = `within ${Math.round(this.options.provisionTimeoutMs / 1000)} s`;
          const silent = instance?.state === 'running' && (this.ssh.found(row.pod_id)?.misses ?? 0) > 0;
          const what = silent ? `reported the machine running, but its SSH did not answer ${within}` : `did not bring the pod up ${within}`;
          await say('Fail', 'provisioning_timeout', `${row.provider} ${what}. Its instance is destroyed and nothing is charged; try again or pick another machine.`);
          if (instance) await this.destroy(provider, instance);
          return true;
        }
        if (!instance) {
          if (row.status === 'starting' || row.instance_id) {
            await lost();
            return true;
          }
          if (now - row.created_at.getTime() < this.options.createGraceMs || !this.due(`${row.pod_id}:create`)) return false;
          const again = await this.lifecycle.respec(row);
          if ('code' in again) await say('Fail', 'provider_error', again.message);
          else await this.lifecycle.provision(row.tenant_id, again.requested, again.spec, `reprovision-${row.pod_id}`);
          return true;
        }
        if (instance.state === 'running') return this.markRunning(row, instance, provider);
        if (instance.state === 'reclaimed') {
          if (row.status === 'starting') await reclaimed();
          else await say('Fail', 'spot_reclaimed', `${row.provider} reclaimed the spot instance before it was ready. Nothing is charged; try again or use a dedicated machine.`);
          return true;
        }
        if (row.status === 'starting' && instance.state === 'stopped' && this.due(`${row.pod_id}:start`)) {
          await this.lifecycle.refuseStart(row, await this.lifecycle.carry(row.pod_id, 'start'), key);
          return true;
        }
        return false;
      }
      case 'running':
        if (!instance) return lost().then(() => true);
        if (instance.state === 'reclaimed') return reclaimed().then(() => true);
        if (instance.state === 'stopped' || instance.state === 'stopping') {
          await say('MarkTerminated', 'provider_stopped', `${row.provider} stopped this pod's instance. Start it again with POST /api/volt/pods/${row.pod_id}/start.`);
          return true;
        }
        // The provider now reports the machine elsewhere (a host move, a new public IP): show where it is.
        if (instance.state === 'running' && (instance.ip !== row.ip || instance.sshPort !== row.ssh_port)) {
          const data = { podId: row.pod_id, ip: instance.ip, sshPort: instance.sshPort, at: new Date().toISOString() };
          // A fresh id each time: a machine may move back to an address it had, and the decider
          // appends nothing for an address the pod already shows, so a repeated sweep adds nothing.
          await this.lifecycle.decideAsSystem(row, { type: 'RecordAddress', data }, `address-${Date.now()}-${instance.ip}:${instance.sshPort}`);
          return true;
        }
        // The machine accepts other keys than the pod's: a key change the provider missed, or a key deleted since.
        if (instance.state === 'running' && [...instance.sshKeys].sort().join('\n') !== keys.join('\n') && this.due(`${row.pod_id}:keys`)) {
          await this.lifecycle.carry(row.pod_id, 'keys');
          return true;
        }
        return instance.state === 'running' && this.checkSsh(row);
      case 'stopping':
        if (!instance) return lost().then(() => true);
        if (instance.state === 'reclaimed') return reclaimed().then(() => true);
        if (instance.state === 'stopped') {
          await this.lifecycle.decideAsSystem(row, { type: 'MarkStopped', data: { podId: row.pod_id, at: new Date().toISOString() } }, `stopped-${key}`);
          return true;
        }
        if (overdue) {
          await say('Fail', 'provisioning_timeout', `${row.provider} did not stop the pod within ${Math.round(this.options.provisionTimeoutMs / 1000)} s; its instance is destroyed.`);
          await this.destroy(provider, instance);
          return true;
        }
        if (instance.state === 'running' && this.due(`${row.pod_id}:stop`)) {
          await this.lifecycle.carry(row.pod_id, 'stop');
          return true;
        }
        return false;
      case 'stopped':
        if (!instance) return lost().then(() => true);
        if (instance.state === 'reclaimed') return reclaimed().then(() => true);
        if (instance.state === 'running' && this.due(`${row.pod_id}:stop`)) {
          await this.lifecycle.carry(row.pod_id, 'stop');
          return true;
        }
        return false;
      case 'deleting':
        if (!instance) {
          await this.lifecycle.decideAsSystem(row, { type: 'MarkDeleted', data: { podId: row.pod_id, at: new Date().toISOString() } }, `deleted-${key}`);
          return true;
        }
        return this.destroy(provider, instance, row.pod_id);
      default:
        return false;
    }
  }

  /** Records a running instance; a confidential one first hands over evidence bound to a fresh nonce. */
  private async markRunning(row: PodRow, instance: ProviderInstance, provider: ProviderAdapter): Promise<boolean> {
    const at = new Date().toISOString();
    if (row.confidential && !row.attested_at) {
      const nonce = randomBytes(32).toString('hex');
      let evidence;
      try {
        evidence = await provider.attest(instance.instanceId, nonce);
      } catch (error) {
        this.logger?.warn({ podId: row.pod_id, err: error }, 'attestation evidence not available yet');
        return false;
      }
      if (boundNonce(evidence.quoteRaw) !== nonce) {
        await this.lifecycle.decideAsSystem(
          row,
          { type: 'Fail', data: { podId: row.pod_id, reason: 'attestation_failed', message: 'The provider’s attestation evidence did not bind the nonce Volt asked for; the pod is not trusted and its instance is destroyed.', whenStatus: row.status, at } },
          `Fail-attest-${row.status_at.getTime()}`,
        );
        await this.destroy(provider, instance);
        return true;
      }
      await this.lifecycle.decideAsSystem(
        row,
        { type: 'RecordAttestation', data: { podId: row.pod_id, instanceId: instance.instanceId, nonce, quote: evidence.quote, quoteRaw: evidence.quoteRaw, signature: evidence.signature, signingKey: evidence.signingKey, at } },
        `attest-${row.status}-${row.status_at.getTime()}`,
      );
    }
    if (!(await this.sshVerified(row, instance))) return false;
    const outcome = await this.lifecycle.decideAsSystem(row, { type: 'MarkRunning', data: { podId: row.pod_id, ip: instance.ip, sshPort: instance.sshPort, at } }, `running-${row.status}-${row.status_at.getTime()}`);
    if (outcome.ok && outcome.events.length > 0 && !outcome.replayed) {
      const from = row.status === 'deploying' ? row.created_at : row.status_at;
      provisioning.observe({ provider: row.provider, phase: row.status === 'deploying' ? 'create' : 'start' }, (Date.now() - from.getTime()) / 1000);
    }
    return true;
  }

  /**
   * A pod is running only once its machine answers SSH where the provider says it does (seed 003:
   * running means SSH verified). A machine that answers is seen within this sweep; one that does
   * not yet is looked at again by the next, and after SSH_MISSES_TO_REPORT misses the pod says
   * what it is waiting for (PodSshSilent) until it runs or fails at the deadline.
   */
  private async sshVerified(row: PodRow, instance: ProviderInstance): Promise<boolean> {
    const found = await this.ssh.look(row, instance.ip, instance.sshPort, 0, SSH_VERIFY_WAIT_MS);
    if (found.answered) return true;
    if (found.misses >= SSH_MISSES_TO_REPORT && !row.ssh_silent_since) {
      const deadline = new Date(row.status_at.getTime() + this.options.provisionTimeoutMs).toISOString();
      await this.recordSsh(row, false, Date.parse(found.firstMissAt!), `${row.provider} reports the machine up, but its SSH at ${instance.ip}:${instance.sshPort} has not answered since ${found.firstMissAt}. Volt keeps checking until ${deadline}; nothing is charged until it answers.`);
    }
    return false;
  }

  /**
   * Running means SSH answers (seed 003), so a running pod's SSH is checked again every
   * sshCheckIntervalMs: after SSH_MISSES_TO_REPORT misses in a row the pod records that it went
   * silent (its detail says so; it stays running, as the provider reports it, and is charged as
   * such), and once it answers again, that it did. Each change is one event. The sweep does not
   * wait for these checks; it acts on what they last found.
   */
  private async checkSsh(row: PodRow): Promise<boolean> {
    const found = await this.ssh.look(row, row.ip, row.ssh_port, this.options.sshCheckIntervalMs, 0);
    if (found.misses >= SSH_MISSES_TO_REPORT && !row.ssh_silent_since) {
      await this.recordSsh(row, false, Date.parse(found.firstMissAt!), `Its SSH at ${row.ip}:${row.ssh_port} has not answered since ${found.firstMissAt}: the machine may be overloaded or its SSH server stopped. Volt keeps checking; stopping and starting the pod restarts the machine.`);
      return true;
    }
    if (found.answered && row.ssh_silent_since) {
      await this.recordSsh(row, true, row.ssh_silent_since.getTime(), '');
      return true;
    }
    return false;
  }

  /** One silence (or its end) per pod status and first miss: a repeated sweep records nothing twice. */
  private recordSsh(row: PodRow, answering: boolean, since: number, message: string) {
    return this.lifecycle.decideAsSystem(
      row,
      { type: 'RecordSsh', data: { podId: row.pod_id, answering, message, at: new Date().toISOString() } },
      `ssh-${answering ? 'answering' : 'silent'}-${row.status}-${since}`,
    );
  }

  /** Instances no live pod owns: untagged ones, those of pods that ended, and those Volt has no record of. */
  private async destroyUnowned(provider: ProviderAdapter, candidates: ProviderInstance[]): Promise<number> {
    const active = candidates.filter((i) => i.state !== 'terminating');
    const statuses = await podStatuses(this.db, active.flatMap((i) => (i.tag ? [i.tag] : [])));
    let found = 0;
    for (const instance of active) {
      const status = instance.tag ? statuses.get(instance.tag) : undefined;
      if (instance.tag && !isTerminal(status)) {
        // Not in the read model yet: an orphan only if the pod has no history and the instance is old enough.
        if (status !== undefined) continue;
        if (Date.now() - Date.parse(instance.createdAt) < this.options.orphanGraceMs) continue;
        if ((await this.store.readStream(podStream(instance.tag))).length > 0) continue;
      }
      // Counted once: the first time it is seen, before its first destroy.
      if (status !== 'failed' && !this.retries.has(instance.instanceId)) {
        orphans.inc();
        found++;
        this.logger?.warn({ provider: provider.name, instanceId: instance.instanceId, tag: instance.tag }, 'orphaned instance; destroying it');
      }
      await this.destroy(provider, instance);
    }
    return found;
  }

  /** Destroys with backoff; a destroy that was asked before and had no effect counts as a failure. */
  private async destroy(provider: ProviderAdapter, instance: ProviderInstance, retryKey = instance.instanceId): Promise<boolean> {
    const attempt = this.due(retryKey);
    if (!attempt) return false;
    if (attempt > 1) destroyFailures.inc();
    try {
      await provider.destroy(instance.instanceId);
    } catch (error) {
      destroyFailures.inc();
      this.logger?.warn({ provider: provider.name, instanceId: instance.instanceId, err: error }, 'destroy failed; retrying with backoff');
    }
    return true;
  }

  /** The number of this attempt if a (repeated) call under `key` is due, else 0: backoff doubles up to a minute. */
  private due(key: string): number {
    const previous = this.retries.get(key);
    if (previous && Date.now() < previous.nextAt) {
      previous.sweep = this.sweeps;
      return 0;
    }
    const attempts = (previous?.attempts ?? 0) + 1;
    this.retries.set(key, { attempts, nextAt: Date.now() + Math.min(60_000, this.options.retryBackoffMs * 2 ** (attempts - 1)), sweep: this.sweeps });
    return attempts;
  }

  private async publishGauges(): Promise<void> {
    sessions.reset();
    sshUnreachable.reset();
    for (const { provider, status, n, sshSilent } of await countSessions(this.db)) {
      sessions.set({ provider, status }, n);
      if (status === 'running') sshUnreachable.set({ provider }, sshSilent);
    }
  }
}

/** The nonce the signed quote bytes bind (their report_data), or undefined if they do not parse. */
function boundNonce(quoteRaw: string): string | undefined {
  try {
    return (JSON.parse(Buffer.from(quoteRaw, 'base64').toString('utf8')) as { report_data?: string }).report_data;
  } catch {
    return undefined;
  }
}
