import { domainError, type MessageOf } from '@volt/contracts';
import { assertNever, type Decider } from '@volt/domain';
import type {
  PodAddressChanged,
  PodAttestationRecorded,
  PodDeleted,
  PodDeleteRequested,
  PodFailed,
  PodProvisioned,
  PodReason,
  PodRequested,
  PodRunning,
  PodSshSilent,
  PodSshAnswered,
  PodStartRefused,
  PodStartRequested,
  PodStatus,
  PodStopped,
  PodStopRequested,
  PodTerminatedByProvider,
  PodUpdated,
} from '@volt/pods-contracts';

export type PodEvent =
  | MessageOf<typeof PodRequested>
  | MessageOf<typeof PodProvisioned>
  | MessageOf<typeof PodAttestationRecorded>
  | MessageOf<typeof PodRunning>
  | MessageOf<typeof PodAddressChanged>
  | MessageOf<typeof PodSshSilent>
  | MessageOf<typeof PodSshAnswered>
  | MessageOf<typeof PodStopRequested>
  | MessageOf<typeof PodStopped>
  | MessageOf<typeof PodStartRequested>
  | MessageOf<typeof PodStartRefused>
  | MessageOf<typeof PodUpdated>
  | MessageOf<typeof PodDeleteRequested>
  | MessageOf<typeof PodDeleted>
  | MessageOf<typeof PodFailed>
  | MessageOf<typeof PodTerminatedByProvider>;

type Ref = { podId: string; at: string };
/** A pod's part of its machine's CPU and memory: in proportion to the GPUs it has of the machine's. */
export type MachineShare = { cpuCores: number; ramGb: number };

export function machineShare(machine: { gpuCount: number; cpuCores: number; ramGb: number }, gpuCount: number): MachineShare {
  const part = (total: number) => Math.max(1, Math.floor((total * gpuCount) / machine.gpuCount));
  return { cpuCores: part(machine.cpuCores), ramGb: part(machine.ramGb) };
}
/** Intents of the customer (Request*, UpdatePod) and observations of the provider (Record*, Mark*, Fail). */
export type PodCommand =
  | { type: 'RequestPod'; data: MessageOf<typeof PodRequested>['data'] }
  | { type: 'RecordProvisioned'; data: Ref & { instanceId: string } }
  | { type: 'RecordAttestation'; data: MessageOf<typeof PodAttestationRecorded>['data'] }
  | { type: 'MarkRunning'; data: Ref & { ip: string | null; sshPort: number | null } }
  | { type: 'RecordAddress'; data: Ref & { ip: string | null; sshPort: number | null } }
  /** What checks of the machine's SSH found (running, or up at the provider while booting); `message` says what silence means. */
  | { type: 'RecordSsh'; data: Ref & { answering: boolean; message: string } }
  | { type: 'RequestStop'; data: Ref & { reason: PodReason | null } }
  | { type: 'MarkStopped'; data: Ref }
  | { type: 'RequestStart'; data: Ref & { holdId: string | null } }
  | { type: 'RefuseStart'; data: Ref & { message: string } }
  | { type: 'UpdatePod'; data: Ref & { name?: string; sshKeyIds?: string[]; volumeSizeGb?: number; gpuCount?: number; share?: MachineShare } }
  | { type: 'RequestDelete'; data: Ref & { reason?: PodReason; message?: string } }
  | { type: 'MarkDeleted'; data: Ref }
  | { type: 'Fail'; data: Observed & { reason: PodReason; message: string } }
  | { type: 'MarkTerminated'; data: Observed & { reason: PodReason; message: string } };

/**
 * A verdict reached by looking at the pod in one state: it holds only if the pod is still in
 * that state (a customer's stop may have landed since the reconciler looked).
 */
type Observed = Ref & { whenStatus?: PodStatus };

export interface PodState {
  exists: boolean;
  status: PodStatus;
  provider: 'lium' | 'targon';
  confidential: boolean;
  instanceId: string | null;
  /** Where the machine's SSH answers, as the provider last reported it while running. */
  ip: string | null;
  sshPort: number | null;
  /** Its machine's SSH has been silent since a check recorded it (while it runs, or while it boots). */
  sshSilent: boolean;
  /** Evidence recorded for the current boot (a confidential pod re-attests at every start). */
  attested: boolean;
  instanceType: 'dedicated' | 'spot';
  minimumRuntimeMinutes: number;
  runningSince: string | null;
  /** Seconds spent running in finished intervals. */
  runSeconds: number;
  name: string;
  sshKeyIds: string[];
  gpuCount: number;
  volumeSizeGb: number;
  pricePerGpuHour: number;
  costPerHour: number;
  /** The ledger hold reserving the current run's first hour, until an event gives it back. */
  holdId: string | null;
  /**
   * The hold the latest of the events that give one back found live (null: none was, it had
   * been given back already): the one the service tells the ledger to release.
   */
  releasedHoldId: string | null;
}

const initialState = (): PodState => ({
  exists: false,
  status: 'deploying',
  provider: 'lium',
  confidential: false,
  instanceId: null,
  ip: null,
  sshPort: null,
  sshSilent: false,
  attested: false,
  instanceType: 'dedicated',
  minimumRuntimeMinutes: 0,
  runningSince: null,
  runSeconds: 0,
  name: '',
  sshKeyIds: [],
  gpuCount: 0,
  volumeSizeGb: 0,
  pricePerGpuHour: 0,
  costPerHour: 0,
  holdId: null,
  releasedHoldId: null,
});

const seconds = (from: string, to: string) => Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000);

/** Leaving `running` closes the open interval. */
function leave(state: PodState, status: PodStatus, at: string): PodState {
  const runSeconds = state.runningSince ? state.runSeconds + seconds(state.runningSince, at) : state.runSeconds;
  return { ...state, status, runningSince: null, runSeconds };
}

/** Minutes of running time a pod has had by `at`. */
export function runtimeMinutes(state: PodState, at: string): number {
  const open = state.runningSince ? seconds(state.runningSince, at) : 0;
  return Math.floor((state.runSeconds + open) / 60);
}

/** Pod events after which its hold is given back: it stopped running, or ended. */
export const RELEASES_HOLD: ReadonlySet<PodEvent['type']> = new Set(['PodStopRequested', 'PodStartRefused', 'PodDeleteRequested', 'PodFailed', 'PodTerminatedByProvider']);

function evolve(state: PodState, event: PodEvent): PodState {
  const next = apply(state, event);
  // Given back once: a delete after a stop finds nothing left to release.
  return RELEASES_HOLD.has(event.type) ? { ...next, holdId: null, releasedHoldId: state.holdId } : next;
}

function apply(state: PodState, event: PodEvent): PodState {
  switch (event.type) {
    case 'PodRequested': {
      const d = event.data;
      return {
        ...state,
        exists: true,
        status: 'deploying',
        provider: d.provider,
        confidential: d.confidential,
        instanceType: d.instanceType,
        minimumRuntimeMinutes: d.minimumRuntimeMinutes,
        name: d.name,
        sshKeyIds: d.sshKeyIds,
        gpuCount: d.gpuCount,
        volumeSizeGb: d.volumeSizeGb,
        pricePerGpuHour: d.pricePerGpuHour,
        costPerHour: d.costPerHour,
        holdId: d.holdId,
      };
    }
    case 'PodProvisioned':
      return { ...state, instanceId: event.data.instanceId };
    case 'PodAttestationRecorded':
      return { ...state, attested: true };
    case 'PodRunning':
      return { ...state, status: 'running', runningSince: event.data.at, ip: event.data.ip, sshPort: event.data.sshPort, sshSilent: false };
    case 'PodAddressChanged':
      return { ...state, ip: event.data.ip, sshPort: event.data.sshPort };
    case 'PodSshSilent':
      return { ...state, sshSilent: true };
    case 'PodSshAnswered':
      return { ...state, sshSilent: false };
    case 'PodStopRequested':
      return leave(state, 'stopping', event.data.at);
    case 'PodStopped':
      return { ...state, status: 'stopped' };
    case 'PodStartRequested':
      return { ...state, status: 'starting', attested: false, sshSilent: false, holdId: event.data.holdId };
    case 'PodStartRefused':
      return { ...state, status: 'stopped' };
    case 'PodUpdated': {
      const d = event.data;
      return {
        ...state,
        name: d.name ?? state.name,
        sshKeyIds: d.sshKeyIds ?? state.sshKeyIds,
        volumeSizeGb: d.volumeSizeGb ?? state.volumeSizeGb,
        gpuCount: d.gpuCount ?? state.gpuCount,
        costPerHour: d.costPerHour ?? state.costPerHour,
      };
    }
    case 'PodDeleteRequested':
      return leave(state, 'deleting', event.data.at);
    case 'PodDeleted':
      return { ...state, status: 'deleted' };
    case 'PodFailed':
      return leave(state, 'failed', event.data.at);
    case 'PodTerminatedByProvider':
      return leave(state, 'terminated-provider', event.data.at);
    default:
      return assertNever(event);
  }
}

const TERMINAL: PodStatus[] = ['deleted', 'failed', 'terminated-provider'];
const conflict = (message: string) => domainError('CONFLICT', message);

function decide(command: PodCommand, state: PodState): PodEvent[] | ReturnType<typeof domainError> {
  if (command.type === 'RequestPod') return state.exists ? [] : [{ type: 'PodRequested', data: command.data }];
  if (!state.exists) return domainError('NOT_FOUND', 'Pod not found.');
  const d = command.data;
  const s = state.status;
  switch (command.type) {
    case 'RecordProvisioned':
      return s === 'deploying' && state.instanceId === null ? [{ type: 'PodProvisioned', data: { podId: d.podId, instanceId: command.data.instanceId, at: d.at } }] : [];
    case 'RecordAttestation':
      return state.confidential && (s === 'deploying' || s === 'starting') && !state.attested ? [{ type: 'PodAttestationRecorded', data: command.data }] : [];
    case 'MarkRunning':
      if (s !== 'deploying' && s !== 'starting') return [];
      if (state.confidential && !state.attested) return conflict('A confidential pod runs only once its attestation evidence is recorded.');
      return [{ type: 'PodRunning', data: { podId: d.podId, ip: command.data.ip, sshPort: command.data.sshPort, at: d.at } }];
    case 'RecordAddress': {
      const { ip, sshPort } = command.data;
      return s === 'running' && (ip !== state.ip || sshPort !== state.sshPort) ? [{ type: 'PodAddressChanged', data: { podId: d.podId, ip, sshPort, at: d.at } }] : [];
    }
    case 'RecordSsh': {
      // Only a change is recorded: a machine silent at every check is one event, not one per check.
      // Before running (the provider calls the machine up, its SSH is silent) only the silence is:
      // the answer that ends it is the pod's PodRunning.
      const silent = !command.data.answering;
      const booting = s === 'deploying' || s === 'starting';
      if (!(s === 'running' || (booting && silent)) || silent === state.sshSilent) return [];
      return silent
        ? [{ type: 'PodSshSilent', data: { podId: d.podId, message: command.data.message, at: d.at } }]
        : [{ type: 'PodSshAnswered', data: { podId: d.podId, at: d.at } }];
    }
    case 'RequestStop':
      if (s === 'stopping' || s === 'stopped') return [];
      if (s !== 'running') return conflict(`Pod is ${s}; only a running pod can be stopped.`);
      // A customer's stop ends a spot pod's run as a delete would (billing's stop for want of money may).
      if (command.data.reason === null) {
        const early = tooEarly(state, d.at, d.podId);
        if (early) return early;
      }
      return [{ type: 'PodStopRequested', data: { podId: d.podId, reason: command.data.reason, at: d.at } }];
    case 'MarkStopped':
      return s === 'stopping' ? [{ type: 'PodStopped', data: { podId: d.podId, at: d.at } }] : [];
    case 'RequestStart':
      if (s === 'running' || s === 'starting' || s === 'deploying') return [];
      if (s !== 'stopped') return conflict(`Pod is ${s}; only a stopped pod can be started.`);
      return [{ type: 'PodStartRequested', data: { podId: d.podId, holdId: command.data.holdId, at: d.at } }];
    case 'RefuseStart':
      return s === 'starting' ? [{ type: 'PodStartRefused', data: { podId: d.podId, message: command.data.message, at: d.at } }] : [];
    case 'UpdatePod':
      return update(command.data, state);
    case 'RequestDelete': {
      if (s === 'deleting' || s === 'deleted') return [];
      if (s === 'running') {
        const early = tooEarly(state, d.at, d.podId);
        if (early) return early;
      }
      const { reason, message } = command.data;
      return [{ type: 'PodDeleteRequested', data: reason ? { podId: d.podId, reason, message, at: d.at } : { podId: d.podId, at: d.at } }];
    }
    case 'MarkDeleted':
      return s === 'deleting' ? [{ type: 'PodDeleted', data: { podId: d.podId, at: d.at } }] : [];
    case 'Fail':
      if (command.data.whenStatus && command.data.whenStatus !== s) return [];
      return s === 'deploying' || s === 'starting' || s === 'stopping'
        ? [{ type: 'PodFailed', data: { podId: d.podId, reason: command.data.reason, message: command.data.message, at: d.at } }]
        : [];
    case 'MarkTerminated':
      if (command.data.whenStatus && command.data.whenStatus !== s) return [];
      return s === 'running' || s === 'starting' || s === 'stopping' || s === 'stopped'
        ? [{ type: 'PodTerminatedByProvider', data: { podId: d.podId, reason: command.data.reason, message: command.data.message, at: d.at } }]
        : [];
    default:
      return assertNever(command);
  }
}

/**
 * A running spot pod short of its minimum runtime (seed 002) may be neither stopped nor deleted:
 * a stop would end its run as surely as a delete, and a stopped pod may then be deleted.
 */
function tooEarly(state: PodState, at: string, podId: string): ReturnType<typeof domainError> | undefined {
  if (state.instanceType !== 'spot' || runtimeMinutes(state, at) >= state.minimumRuntimeMinutes) return undefined;
  return conflict(
    `Spot pods run at least ${state.minimumRuntimeMinutes} minutes before they can be stopped or deleted; this one has run ${runtimeMinutes(state, at)}. See GET /api/volt/pods/${podId}/can-terminate.`,
  );
}

function update(d: Extract<PodCommand, { type: 'UpdatePod' }>['data'], state: PodState): PodEvent[] | ReturnType<typeof domainError> {
  if (TERMINAL.includes(state.status) || state.status === 'deleting') return conflict(`Pod is ${state.status}; it can no longer be changed.`);
  // What no stop makes possible is refused first: the customer is not sent to stop the pod for nothing.
  const fixed = fixedHardware(d, state);
  if (fixed) return fixed;
  const hardware = (['volumeSizeGb', 'gpuCount'] as const).filter((k) => d[k] !== undefined && d[k] !== state[k]);
  if (hardware.length > 0 && state.status !== 'stopped') {
    const fields = hardware.map((k) => (k === 'gpuCount' ? 'gpu_count' : 'volume_size_gb')).join(', ');
    return conflict(`Stop the pod before changing ${fields}; it is ${state.status}.`);
  }
  const changes: Omit<MessageOf<typeof PodUpdated>['data'], 'podId' | 'at'> = {};
  if (d.name !== undefined && d.name !== state.name) changes.name = d.name;
  if (d.sshKeyIds !== undefined && d.sshKeyIds.join() !== state.sshKeyIds.join()) changes.sshKeyIds = d.sshKeyIds;
  if (d.volumeSizeGb !== undefined && d.volumeSizeGb !== state.volumeSizeGb) changes.volumeSizeGb = d.volumeSizeGb;
  if (d.gpuCount !== undefined && d.gpuCount !== state.gpuCount) {
    changes.gpuCount = d.gpuCount;
    changes.costPerHour = Math.round(state.pricePerGpuHour * d.gpuCount * 100) / 100;
    if (d.share) Object.assign(changes, d.share);
  }
  return Object.keys(changes).length === 0 ? [] : [{ type: 'PodUpdated', data: { podId: d.podId, ...changes, at: d.at } }];
}

/**
 * A hardware change the pod cannot take at all: a Targon pod's GPUs and disk come with its
 * resource_name (the provider has no way to change them, so Volt would show what the instance
 * does not have), and a volume only grows (shrinking it would cut off the data a stop keeps).
 */
function fixedHardware(d: Extract<PodCommand, { type: 'UpdatePod' }>['data'], state: PodState): ReturnType<typeof domainError> | undefined {
  const gpus = d.gpuCount !== undefined && d.gpuCount !== state.gpuCount;
  const volume = d.volumeSizeGb !== undefined && d.volumeSizeGb !== state.volumeSizeGb;
  if (state.provider === 'targon' && (gpus || volume)) {
    const field = gpus ? 'gpu_count' : 'volume_size_gb';
    return domainError('VALIDATION_ERROR', `A Targon pod’s GPUs and disk come with its resource_name; create a pod on another resource instead.`, [
      { field, rule: 'fixed_by_resource', message: 'fixed by resource_name' },
    ]);
  }
  if (volume && d.volumeSizeGb! < state.volumeSizeGb) {
    const message = `A pod’s volume can only grow: it holds ${state.volumeSizeGb} GB, and a smaller one would lose its data. Create a new pod for a smaller volume.`;
    return domainError('VALIDATION_ERROR', message, [{ field: 'volume_size_gb', rule: 'only_grows', message: `at least ${state.volumeSizeGb}` }]);
  }
  return undefined;
}

/** One pod's life: what the customer asked for against what the provider reported. */
export const podDecider: Decider<PodCommand, PodEvent, PodState> = { initialState, evolve, decide };
