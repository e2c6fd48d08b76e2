import { domainError, type CommandEnvelope, type EventEnvelope, type CommandReply, type DomainError, type MessageOf } from '@volt/contracts';
import { fold } from '@volt/domain';
import { uuidFromName, type Database, type EventStore } from '@volt/event-store';
import { usdToMicros } from '@volt/ledger-contracts';
import { CreatePod, DeletePod, podStream, StartPod, StopPod, UpdatePod, type Machine, type PodReason, type PodRequested, type PodStatus } from '@volt/pods-contracts';
import { machineShare, podDecider, RELEASES_HOLD, type MachineShare, type PodCommand, type PodEvent, type PodState } from '@volt/pods-domain';
import type { Keyring } from '@volt/secrets';
import type { Logger } from '@volt/telemetry';
import { OfferUnavailableError, ProviderRejectedError, type CreateInstance } from '../providers/port';
import type { Providers } from '../providers/providers';
import { fewerFreeGpus, findMachine, forgetMachine, tookGpus } from '../read-models/machines/catalogue';
import { podsInStatus, type PodRow } from '../read-models/pod-sessions/query';
import { publicKeysById } from '../read-models/ssh-key-list/query';
import { resolveDeployImage, type DeployImage } from '../read-models/templates/resolve';
import { decideFor, requireTenant } from './decide';
import type { HoldPort } from './holds';
import { systemEnvelope } from './system-envelope';

/** A pod's state from the events of its stream. */
const foldPod = (events: EventEnvelope[]): PodState => fold(podDecider, events.map((e) => ({ type: e.type, data: e.data }) as PodEvent));

type Reply<T> = Promise<CommandReply<T>>;
/** A pod's state with its organization and its machine. */
type PodView = PodState & { tenantId: string | null; machineId: string | null };
type Requested = MessageOf<typeof PodRequested>['data'];

/**
 * How a command reached this instance. A redelivery's earlier run may have ended (a crash, a lost
 * connection) after reserving money with the ledger and before recording what it was for.
 */
export interface Delivery {
  redelivered: boolean;
}
const FIRST_DELIVERY: Delivery = { redelivered: false };

/** A crash seam for the kill tests: VOLT_FAULT_CRASH_AT names a point in create where the process dies. */
export type CrashPoint = 'before-request-append' | 'before-provider-call' | 'after-provider-call';

export interface PodLifecycleDeps {
  db: Database;
  store: EventStore;
  providers: Providers;
  holds: HoldPort;
  keyring: Keyring;
  logger?: Logger;
  crashAt?: CrashPoint;
}

const ACTIONS: Record<'start' | 'stop', Partial<Record<PodStatus, string>>> = {
  start: {
    starting: 'Pod is starting. This typically takes 15-30 seconds.',
    running: 'Pod is already running; nothing to do.',
    deploying: 'Pod is still deploying; it will be running shortly.',
  },
  stop: {
    stopping: 'Pod is stopping. Data on /root volume is preserved.',
    stopped: 'Pod is already stopped; nothing to do.',
  },
};

/**
 * The pod lifecycle's intents: each command is decided against the pod's stream,
 * then carried to the provider. What the provider does afterwards is observed by
 * the reconciler, which records it; nothing here shows a state before it is true.
 */
export class PodLifecycle {
  constructor(private readonly deps: PodLifecycleDeps) {}

  /**
   * Decides one pod command on behalf of the customer (envelope) or the service itself. A pod
   * that stops running or ends gives its first-hour hold back to the ledger.
   */
  async decide(envelope: CommandEnvelope, command: PodCommand) {
    // A create names a pod id made for it: its stream is new (unless the create is a repeat).
    const newStream = command.type === 'RequestPod';
    const outcome = await decideFor(this.deps.store, podDecider, podStream(command.data.podId), envelope, command, { newStream });
    if (!outcome.ok || !envelope.tenantId || !outcome.events.some((e) => RELEASES_HOLD.has(e.type))) return outcome;
    // A repeat tells the ledger again: its first run may have ended (a crash, a lost answer)
    // between the append and the release. The ledger applies a hold's release once.
    const holdId = outcome.replayed ? await this.holdReleasedBy(command.data.podId, envelope.id) : outcome.state.releasedHoldId;
    if (holdId) await this.deps.holds.release(envelope.tenantId, holdId, envelope.correlationId);
    return outcome;
  }

  /** The hold that the events command `commandId` appended gave back: the stream folded up to the last of them. */
  private async holdReleasedBy(podId: string, commandId: string): Promise<string | null> {
    const events = await this.deps.store.readStream(podStream(podId));
    const upTo = events.findLastIndex((e) => e.causationId === commandId) + 1;
    return foldPod(events.slice(0, upTo)).releasedHoldId;
  }

  /**
   * Gives back a create's or a start's hold (one it placed, or an earlier run of it may have
   * placed before it ended) unless the pod's stream recorded it: then the pod owns it, and gives
   * it back when it stops. Without this the money stayed held until the hold expired, two hours
   * later (found by concurrent starts, and by killing pods-service instances under load).
   */
  private async releaseUnrecorded(envelope: CommandEnvelope, podId: string, holdId: string): Promise<void> {
    if (!envelope.tenantId) return;
    const events = await this.deps.store.readStream(podStream(podId));
    if (events.some((e) => (e.data as { holdId?: string | null }).holdId === holdId)) return;
    await this.deps.holds.release(envelope.tenantId, holdId, envelope.correlationId);
  }

  /** The pod's state from its stream, with the stream's version and the pod's organization. */
  private async state(podId: string): Promise<PodView> {
    const events = await this.deps.store.readStream(podStream(podId));
    const state = foldPod(events);
    const requested = events[0]?.data as Requested | undefined;
    return { ...state, tenantId: events[0]?.tenantId ?? null, machineId: requested?.machineId ?? null };
  }

  /** The reconciler's decisions: deterministic ids per pod version, so a repeated sweep appends nothing twice. */
  decideAsSystem(row: Pick<PodRow, 'pod_id' | 'tenant_id'>, command: PodCommand, key: string) {
    return this.decide(systemEnvelope(row.tenant_id, `sys-${row.pod_id}-${key}`.slice(0, 128), row.pod_id, command.type), command);
  }

  async create(envelope: CommandEnvelope, delivery = FIRST_DELIVERY): Reply<{ podId: string }> {
    const d = CreatePod.schema.parse(envelope.data);
    const tenantId = requireTenant(envelope);
    // The first hour is reserved before anything is recorded or provisioned: no money, no pod.
    // (A create retried by the customer has a new pod id, so a new hold id.)
    const holdId = `${d.podId}:run:0`;
    const checked = await this.validate(tenantId, d);
    if ('code' in checked) {
      // An earlier run of this create may have reserved the hour before it ended.
      if (delivery.redelivered) await this.releaseUnrecorded(envelope, d.podId, holdId);
      return { ok: false, error: checked };
    }
    const held = await this.deps.holds.place(tenantId, { holdId, amount: hourOf(checked.requested.costPerHour), resource: d.podId, description: `first hour of ${d.podId}`, correlationId: envelope.correlationId });
    if (!held.ok) return { ok: false, error: held.error };
    checked.requested.holdId = holdId;
    this.crash('before-request-append');
    const outcome = await this.decide(envelope, { type: 'RequestPod', data: { ...checked.requested, requestedAt: d.requestedAt } });
    if (!outcome.ok) {
      await this.deps.holds.release(tenantId, holdId, envelope.correlationId);
      return { ok: false, error: outcome.error };
    }
    const provisioned = await this.provision(tenantId, checked.requested, checked.spec, envelope.id);
    if (!provisioned.ok) return { ok: false, error: provisioned.error, checkpoint: provisioned.checkpoint ?? outcome.checkpoint };
    return { ok: true, checkpoint: provisioned.checkpoint ?? outcome.checkpoint, result: { podId: d.podId } };
  }

  /**
   * Creates the provider instance tagged with the pod id (the provider answers an
   * existing tag with its instance, so this is safe to repeat) and records it. A
   * refusal fails the pod with a reason; any instance left behind is the
   * reconciler's to destroy.
   */
  async provision(tenantId: string, requested: Omit<Requested, 'requestedAt'>, spec: CreateInstance, key: string) {
    const provider = this.deps.providers.get(requested.provider);
    const row = { pod_id: requested.podId, tenant_id: tenantId };
    const at = () => new Date().toISOString();
    this.crash('before-provider-call');
    let instanceId: string;
    try {
      instanceId = (await provider.create(spec)).instanceId;
    } catch (error) {
      const stale = error instanceof OfferUnavailableError;
      const soldOut = stale && error.soldOut;
      if (soldOut) await fewerFreeGpus(this.deps.db, requested.machineId, requested.gpuCount);
      else if (stale) await forgetMachine(this.deps.db, requested.machineId);
      const reason: PodReason = stale ? 'stale_inventory' : 'provider_error';
      const message = soldOut
        ? `The ${requested.provider} offer ${requested.machineId} no longer has ${gpus(requested.gpuCount, 'free ')}: others took them before the pod could start. Nothing was charged; pick another machine from GET /api/volt/machines, or ask for fewer GPUs.`
        : stale
          ? `The ${requested.provider} offer ${requested.machineId} was withdrawn before the pod could start. Nothing was charged; pick another machine from GET /api/volt/machines.`
          : `${requested.provider} did not complete the request (${(error as Error).message}). Nothing was charged; retry in a few seconds.`;
      const failed = await this.decideAsSystem(row, { type: 'Fail', data: { podId: requested.podId, reason, message, whenStatus: 'deploying', at: at() } }, `fail-${key}`);
      this.deps.logger?.warn({ podId: requested.podId, provider: requested.provider, reason }, 'pod provisioning refused');
      const refusal = stale
        ? staleInventory(requested.machineId, requested.provider)
        : domainError('PROVIDER_UNAVAILABLE', `Upstream provider (${requested.provider}) temporarily unavailable. Retry after a few seconds.`);
      return { ok: false as const, error: refusal, checkpoint: failed.ok ? failed.checkpoint : null };
    }
    this.crash('after-provider-call');
    // The next create on this machine sees its GPUs gone by the time this one answers, not at the
    // next refresh (a Lium machine's; a Targon resource's capacity comes with the refresh); told
    // while the instance is recorded, not before. A failure here only leaves the listing behind
    // until the next refresh: the pod goes on.
    const took =
      requested.provider === 'lium'
        ? tookGpus(this.deps.db, requested.machineId, requested.gpuCount).catch((error: unknown) =>
            this.deps.logger?.warn({ err: error, machineId: requested.machineId }, 'catalogue not told of the GPUs a pod took'),
          )
        : undefined;
    const recorded = await this.decideAsSystem(row, { type: 'RecordProvisioned', data: { podId: requested.podId, instanceId, at: at() } }, `provisioned-${instanceId}`);
    await took;
    if (!recorded.ok) return { ok: false as const, error: recorded.error, checkpoint: null };
    return { ok: true as const, checkpoint: recorded.checkpoint };
  }

  /** A stopped pod starts only with its next first hour reserved (402 otherwise). */
  async start(envelope: CommandEnvelope, delivery = FIRST_DELIVERY): Reply<{ id: string; status: PodStatus; message: string }> {
    const d = StartPod.schema.parse(envelope.data);
    const state = await this.state(d.podId);
    // One hold id per start command, from the command alone: a redelivery places the same hold
    // once, whatever was recorded meanwhile; a start retried after the ledger failed to answer
    // is a new command with a new one (the ledger voids the id of a hold released before it was placed).
    const startHold = `${d.podId}:run:${uuidFromName(envelope.id)}`;
    let holdId: string | null = null;
    if (state.exists && state.status === 'stopped' && envelope.tenantId) {
      // Before the hold, so that nothing can fail between placing it and the start that gives it back.
      await this.dropRemovedKeys({ pod_id: d.podId, tenant_id: envelope.tenantId }, state, envelope.id);
      holdId = startHold;
      const held = await this.deps.holds.place(envelope.tenantId, { holdId, amount: hourOf(state.costPerHour), resource: d.podId, description: `first hour of ${d.podId} after a start`, correlationId: envelope.correlationId });
      if (!held.ok) return { ok: false, error: held.error };
    } else if (delivery.redelivered) {
      // An earlier run of this command may have reserved the hour before it ended.
      await this.releaseUnrecorded(envelope, d.podId, startHold);
    }
    const reply = await this.powerAction(envelope, 'start', { type: 'RequestStart', data: { podId: d.podId, holdId, at: d.requestedAt } });
    // Unless this start is the one the pod recorded, the hold is not needed: another start won
    // the race (the pod says "starting" all the same), or it was refused.
    if (holdId) await this.releaseUnrecorded(envelope, d.podId, holdId);
    return reply;
  }

  /**
   * A stopped pod about to be redeployed leaves out the keys its organization removed: they stayed
   * on its machine while it ran (seed 000), and its detail and its machine now agree without them.
   * (A Lium start takes the pod's keys; a Targon server is given them now, as a PUT would.)
   */
  private async dropRemovedKeys(row: Pick<PodRow, 'pod_id' | 'tenant_id'>, state: PodState, key: string): Promise<void> {
    const found = await publicKeysById(this.deps.db, row.tenant_id, state.sshKeyIds);
    if (found.size === state.sshKeyIds.length) return;
    const sshKeyIds = state.sshKeyIds.filter((id) => found.has(id));
    const outcome = await this.decideAsSystem(row, { type: 'UpdatePod', data: { podId: row.pod_id, sshKeyIds, at: new Date().toISOString() } }, `keys-${key}`);
    if (!outcome.ok) return;
    if (state.provider === 'targon') await this.carry(row.pod_id, 'keys', { ...outcome.state, tenantId: row.tenant_id });
  }

  async stop(envelope: CommandEnvelope) {
    const d = StopPod.schema.parse(envelope.data);
    return this.powerAction(envelope, 'stop', { type: 'RequestStop', data: { podId: d.podId, reason: null, at: d.requestedAt } });
  }

  /**
   * An organization out of money: its running pods are stopped (not deleted), reason
   * insufficient_balance. `key` (the news's id) makes a redelivery decide nothing twice.
   */
  async stopForUnpaid(tenantId: string, key: string): Promise<number> {
    const running = await podsInStatus(this.deps.db, tenantId, ['running']);
    for (const row of running) {
      const outcome = await this.decideAsSystem(row, { type: 'RequestStop', data: { podId: row.pod_id, reason: 'insufficient_balance', at: new Date().toISOString() } }, `exhausted-${key}`);
      if (outcome.ok && outcome.events.length > 0) await this.carry(row.pod_id, 'stop', { ...outcome.state, tenantId: row.tenant_id });
    }
    return running.length;
  }

  /** An organization whose grace period at zero balance (since `zeroSince`) is over: its stopped pods are deleted, saying why. */
  async deleteForUnpaid(tenantId: string, zeroSince: string, key: string): Promise<number> {
    // The pods stopped now, whichever billing named: one still stopping when billing looked is deleted too.
    const stopped = await podsInStatus(this.deps.db, tenantId, ['stopped', 'stopping']);
    const message = `Deleted after the grace period at zero balance (since ${zeroSince}) ended with arrears unpaid.`;
    for (const row of stopped) {
      const outcome = await this.decideAsSystem(row, { type: 'RequestDelete', data: { podId: row.pod_id, reason: 'insufficient_balance', message, at: new Date().toISOString() } }, `grace-${key}`);
      if (outcome.ok && outcome.events.length > 0) await this.carry(row.pod_id, 'destroy', { ...outcome.state, tenantId: row.tenant_id });
    }
    return stopped.length;
  }

  private async powerAction(envelope: CommandEnvelope, action: 'start' | 'stop', command: PodCommand): Reply<{ id: string; status: PodStatus; message: string }> {
    const podId = command.data.podId;
    const outcome = await this.decide(envelope, command);
    if (!outcome.ok) return { ok: false, error: outcome.error };
    if (outcome.events.length > 0 && !outcome.replayed) {
      const failure = await this.carry(podId, action, { ...outcome.state, tenantId: envelope.tenantId });
      const refused = action === 'start' && envelope.tenantId ? await this.refuseStart({ pod_id: podId, tenant_id: envelope.tenantId }, failure, envelope.id) : null;
      if (refused) return refused;
    }
    const { status } = outcome.state;
    return { ok: true, checkpoint: outcome.checkpoint, result: { id: podId, status, message: ACTIONS[action][status] ?? `Pod is ${status}.` } };
  }

  /**
   * A start the provider refused for good (409: its host has not the free GPUs, say): the pod is
   * stopped again, with its instance and volume, its hold given back, and the refusal answered;
   * otherwise (it started, or failed in a way a retry may mend) null.
   */
  async refuseStart(row: Pick<PodRow, 'pod_id' | 'tenant_id'>, failure: Error | undefined, key: string): Promise<CommandReply<never> | null> {
    if (!(failure instanceof ProviderRejectedError) || failure.status !== 409) return null;
    const message = `${failure.provider} refused to start the pod's machine (${failure.message}). The pod stays stopped, with its volume; start it again later, or with fewer GPUs (PUT gpu_count).`;
    const undone = await this.decideAsSystem(row, { type: 'RefuseStart', data: { podId: row.pod_id, message, at: new Date().toISOString() } }, `refuse-start-${key}`);
    this.deps.logger?.warn({ podId: row.pod_id, err: failure }, 'provider refused a start; the pod is stopped again');
    return { ok: false, error: domainError('CONFLICT', message), checkpoint: undone.ok ? undone.checkpoint : undefined };
  }

  /**
   * Carries an intent to the provider now; if that fails, the reconciler carries it on its next
   * sweep (and the failure is returned). `known` is the pod as a decision just left it (else its
   * stream is read).
   */
  async carry(podId: string, action: 'start' | 'stop' | 'destroy' | 'keys', known?: Pick<PodView, keyof PodState | 'tenantId'>): Promise<Error | undefined> {
    const state = known ?? (await this.state(podId));
    if (!state.instanceId) return undefined;
    const provider = this.deps.providers.get(state.provider);
    try {
      if (action === 'start') await provider.start(state.instanceId, { gpuCount: state.gpuCount, volumeGb: state.volumeSizeGb, sshKeys: await this.publicKeys(state.tenantId!, state.sshKeyIds) });
      else if (action === 'keys') await provider.setSshKeys(state.instanceId, await this.publicKeys(state.tenantId!, state.sshKeyIds, state.status === 'running' ? state.runningSince : null));
      else if (action === 'stop') await provider.stop(state.instanceId);
      else await provider.destroy(state.instanceId);
    } catch (error) {
      this.deps.logger?.warn({ podId, action, err: error }, 'provider call failed; the reconciler will retry');
      return error as Error;
    }
    return undefined;
  }

  async update(envelope: CommandEnvelope): Reply<{ podId: string }> {
    const d = UpdatePod.schema.parse(envelope.data);
    if (d.sshKeyIds) {
      const keys = await this.requireKeys(requireTenant(envelope), d.sshKeyIds);
      if (!Array.isArray(keys)) return { ok: false, error: keys };
    }
    const share = d.gpuCount === undefined ? undefined : await this.shareFor(d.podId, d.gpuCount);
    if (share && 'code' in share) return { ok: false, error: share };
    const outcome = await this.decide(envelope, {
      type: 'UpdatePod',
      data: { podId: d.podId, name: d.name, sshKeyIds: d.sshKeyIds, volumeSizeGb: d.volumeSizeGb, gpuCount: d.gpuCount, share, at: d.requestedAt },
    });
    if (!outcome.ok) return { ok: false, error: outcome.error };
    // New keys go to the machine at once, stopped or not (a provider whose start takes no keys
    // boots it with them); if the call fails, the reconciler sees a running machine's keys differ
    // and carries them again.
    const keysChanged = outcome.events.some((e) => e.type === 'PodUpdated' && e.data.sshKeyIds !== undefined);
    if (keysChanged && !outcome.replayed) await this.carry(d.podId, 'keys', { ...outcome.state, tenantId: envelope.tenantId });
    return { ok: true, checkpoint: outcome.checkpoint, result: { podId: d.podId } };
  }

  async remove(envelope: CommandEnvelope): Reply<{ id: string; status: PodStatus; message: string }> {
    const d = DeletePod.schema.parse(envelope.data);
    const outcome = await this.decide(envelope, { type: 'RequestDelete', data: { podId: d.podId, at: d.requestedAt } });
    if (!outcome.ok) return { ok: false, error: outcome.error };
    if (outcome.events.length > 0 && !outcome.replayed) await this.carry(d.podId, 'destroy', { ...outcome.state, tenantId: envelope.tenantId });
    const { status } = outcome.state;
    const message =
      status === 'deleted' ? 'Pod and all associated resources have been deleted.' : 'Pod is being deleted; its instance and local volume are being destroyed. It shows as deleted once the provider confirms.';
    return { ok: true, checkpoint: outcome.checkpoint, result: { id: d.podId, status, message } };
  }

  /**
   * A new GPU count for a pod, checked against its machine as a create is: the pod's share of the
   * machine's CPU and memory at that count. A Targon pod's count is the decider's to refuse.
   */
  private async shareFor(podId: string, gpuCount: number): Promise<MachineShare | DomainError | undefined> {
    const pod = await this.state(podId);
    if (!pod.exists || !pod.machineId || pod.provider !== 'lium' || pod.gpuCount === gpuCount) return undefined;
    const machine = await findMachine(this.deps.db, pod.machineId);
    if (!machine) return domainError('CONFLICT', `Machine ${pod.machineId} is no longer offered, so the pod's GPUs cannot change; it keeps ${pod.gpuCount}.`);
    if (gpuCount > machine.gpu_count) return tooManyGpus(pod.machineId, machine.gpu_count, gpuCount);
    return shareOf(machine, gpuCount);
  }

  /** Image, ports, env and registry login: from the template when there is one (its login opened only here). */
  private async deployOf(tenantId: string, templateId: string | null, image: string | null): Promise<DeployImage | DomainError> {
    if (!templateId) return { image: image!, ports: [22], envVars: {}, registryAuth: null };
    const resolved = await resolveDeployImage(this.deps.db, this.deps.keyring, tenantId, templateId);
    if (resolved.ok) return resolved.value;
    const e = resolved.error;
    return e.code === 'NOT_FOUND' ? domainError('VALIDATION_ERROR', e.message, [{ field: 'template_id', rule: 'exists', message: e.message }]) : e;
  }

  /** What the provider gets. The pod keeps the image it was requested with, even if its template changed since. */
  private specOf(r: Omit<Requested, 'requestedAt'>, deploy: DeployImage, sshKeys: string[]): CreateInstance {
    return {
      tag: r.podId,
      offerId: r.offerId,
      gpuCount: r.gpuCount,
      volumeGb: r.volumeSizeGb,
      image: r.image,
      sshKeys,
      envVars: deploy.envVars,
      ports: deploy.ports,
      registryAuth: r.provider === 'lium' ? deploy.registryAuth : null,
    };
  }

  /**
   * The spec of a pod already requested, for the reconciler to create it again after a crash:
   * as requested, with the SSH keys the pod has now (a PUT may have changed them meanwhile).
   */
  async respec(row: Pick<PodRow, 'pod_id' | 'tenant_id'>): Promise<{ requested: Omit<Requested, 'requestedAt'>; spec: CreateInstance } | DomainError> {
    const events = await this.deps.store.readStream(podStream(row.pod_id));
    const requested = events[0]?.data as Requested | undefined;
    if (!requested) return domainError('NOT_FOUND', `pod ${row.pod_id} has no history`);
    const { sshKeyIds } = foldPod(events);
    const deploy = await this.deployOf(row.tenant_id, requested.templateId, requested.image);
    return 'code' in deploy ? deploy : { requested, spec: this.specOf(requested, deploy, await this.publicKeys(row.tenant_id, sshKeyIds)) };
  }

  /**
   * The organization's public keys among `ids`, in their order, for a machine: a key removed from
   * the organization is left out, unless it was removed after `runningSince` (the machine ran with
   * it then, and keeps it until it is redeployed: seed 000; see runningPodKeys).
   */
  private async publicKeys(tenantId: string, ids: string[], runningSince: string | null = null): Promise<string[]> {
    const found = await publicKeysById(this.deps.db, tenantId, ids, runningSince);
    return ids.filter((id) => found.has(id)).map((id) => found.get(id)!);
  }

  /** The organization's public keys for `ids`, or the error naming those it does not have. */
  private async requireKeys(tenantId: string, ids: string[]): Promise<string[] | DomainError> {
    const found = await publicKeysById(this.deps.db, tenantId, ids);
    const missing = ids.filter((id) => !found.has(id));
    if (missing.length === 0) return ids.map((id) => found.get(id)!);
    const message = `SSH key${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not found in this organization. Add keys with POST /api/volt/ssh-keys.`;
    return domainError('VALIDATION_ERROR', message, [{ field: 'ssh_key_ids', rule: 'exists', message }]);
  }

  /** Checks the request against the catalogue, the templates and the keys; prices it at today's offer. */
  private async validate(tenantId: string, d: MessageOf<typeof CreatePod>['data']): Promise<{ requested: Omit<Requested, 'requestedAt'>; spec: CreateInstance } | DomainError> {
    const sshKeys = await this.requireKeys(tenantId, d.sshKeyIds);
    if (!Array.isArray(sshKeys)) return sshKeys;
    const provider = this.deps.providers.get(d.provider);
    const machineId = d.provider === 'targon' ? provider.machineIdOf(d.resourceName!) : d.machineId!;
    const machine = await findMachine(this.deps.db, machineId);
    if (!machine || machine.provider !== d.provider) {
      if (d.provider === 'targon') return staleInventory(machineId, 'targon');
      return domainError('NOT_FOUND', `Machine ${machineId} not found. List available machines with GET /api/volt/machines.`, [
        { field: 'machine_id', rule: 'exists', message: 'no such machine' },
      ]);
    }
    const gpuCount = d.provider === 'targon' ? machine.gpu_count : d.gpuCount;
    if (gpuCount > machine.gpu_count) return tooManyGpus(machineId, machine.gpu_count, gpuCount);
    if (machine.available_gpus < (d.provider === 'targon' ? 1 : gpuCount)) {
      if (d.provider === 'targon') return staleInventory(machineId, 'targon');
      return domainError('CONFLICT', `Machine ${machineId} has ${gpus(machine.available_gpus, 'free ')}; asked for ${gpuCount}. Choose fewer GPUs or another machine.`);
    }
    const costPerHour = Math.round(machine.cost_per_gpu_hour * gpuCount * 100) / 100;
    if (d.maxCostPerHour !== null && costPerHour > d.maxCostPerHour + 1e-9) {
      return domainError('CONFLICT', `${d.resourceName} costs ${costPerHour.toFixed(2)} USD/hour now, above the cost_per_hour of ${d.maxCostPerHour}. Send cost_per_hour of at least ${costPerHour.toFixed(2)} to accept it.`);
    }
    const deploy = await this.deployOf(tenantId, d.templateId, d.image);
    if ('code' in deploy) return deploy;
    const requested: Omit<Requested, 'requestedAt'> = {
      podId: d.podId,
      name: d.name,
      provider: d.provider,
      machineId,
      offerId: provider.offerIdOf(machineId)!,
      resourceName: d.resourceName,
      gpuType: machine.gpu_type,
      gpuCount,
      ...shareOf(machine, gpuCount),
      location: machine.location,
      instanceType: machine.instance_type,
      minimumRuntimeMinutes: machine.minimum_runtime_minutes,
      pricePerGpuHour: machine.cost_per_gpu_hour,
      costPerHour,
      volumeSizeGb: d.provider === 'targon' ? machine.storage_gb : d.volumeSizeGb,
      templateId: d.templateId,
      image: deploy.image,
      sshKeyIds: d.sshKeyIds,
      confidential: machine.confidential,
      holdId: null,
    };
    return { requested, spec: this.specOf(requested, deploy, sshKeys) };
  }

  private crash(point: CrashPoint): void {
    if (this.deps.crashAt === point) process.kill(process.pid, 'SIGKILL');
  }
}

/** A pod's share of a catalogue machine at `gpuCount` GPUs. */
const shareOf = (m: Machine, gpuCount: number) => machineShare({ gpuCount: m.gpu_count, cpuCores: m.cpu_cores, ramGb: m.ram_gb }, gpuCount);

/** `3 GPUs`, `1 free GPU`. */
const gpus = (n: number, kind = '') => `${n} ${kind}GPU${n === 1 ? '' : 's'}`;

function tooManyGpus(machineId: string, has: number, asked: number): DomainError {
  const message = `Machine ${machineId} has ${gpus(has)}; asked for ${asked}.`;
  return domainError('VALIDATION_ERROR', message, [{ field: 'gpu_count', rule: 'max', message }]);
}

function staleInventory(machineId: string, provider: string): DomainError {
  return {
    code: 'STALE_INVENTORY',
    message: 'The selected offer is no longer available. Please refresh inventory and select a different offer.',
    extra: { error_type: 'stale_inventory', offer_id: machineId, provider, retry_suggested: true },
  };
}

/** One hour at a USD rate, in the ledger's micro-dollars. */
const hourOf = (costPerHour: number) => usdToMicros(costPerHour.toFixed(6));
