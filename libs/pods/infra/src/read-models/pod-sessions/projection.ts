import type { EventEnvelope } from '@volt/contracts';
import { rowsByKey, type JsonRow } from '@volt/projections';

type Change = (row: JsonRow, e: EventEnvelope<any>) => JsonRow;

/** Leaving `running` folds the open interval into run_seconds (to the millisecond, as event times are). */
const leaveRunning = (row: JsonRow, at: string) => ({
  run_seconds:
    (row.run_seconds as number) + (row.running_since ? Math.max(0, (Date.parse(at) - Date.parse(row.running_since as string)) / 1000) : 0),
  running_since: null,
});

const status = (s: string, at: string, extra: JsonRow = {}) => ({ status: s, status_at: at, reason: null, status_message: null, ssh_silent_since: null, ...extra });

const changes: Record<string, Change> = {
  PodProvisioned: (_, e) => ({ instance_id: e.data.instanceId }),
  PodAttestationRecorded: (_, e) => ({ attested_at: e.data.at }),
  PodRunning: (_, e) => status('running', e.data.at, { ip: e.data.ip, ssh_port: e.data.sshPort, running_since: e.data.at }),
  PodAddressChanged: (_, e) => ({ ip: e.data.ip, ssh_port: e.data.sshPort }),
  PodSshSilent: (_, e) => ({ ssh_silent_since: e.data.at, status_message: e.data.message }),
  PodSshAnswered: () => ({ ssh_silent_since: null, status_message: null }),
  PodStopRequested: (row, e) => ({ ...status('stopping', e.data.at), ...leaveRunning(row, e.data.at), reason: e.data.reason }),
  PodStopped: (_, e) => ({ status: 'stopped', status_at: e.data.at }),
  PodStartRequested: (_, e) => ({ ...status('starting', e.data.at), attested_at: null }),
  PodStartRefused: (_, e) => status('stopped', e.data.at, { status_message: e.data.message }),
  PodUpdated: (_, e) => {
    const d = e.data;
    const fields: Record<string, unknown> = {
      name: d.name,
      ssh_key_ids: d.sshKeyIds,
      volume_size_gb: d.volumeSizeGb,
      gpu_count: d.gpuCount,
      cost_per_hour: d.costPerHour,
      cpu_cores: d.cpuCores,
      ram_gb: d.ramGb,
    };
    return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
  },
  PodDeleteRequested: (row, e) => ({ ...status('deleting', e.data.at, { reason: e.data.reason ?? null, status_message: e.data.message ?? null }), ...leaveRunning(row, e.data.at) }),
  PodDeleted: (_, e) => ({ status: 'deleted', status_at: e.data.at, ip: null, ssh_port: null }),
  PodFailed: (row, e) => ({ ...status('failed', e.data.at, { reason: e.data.reason, status_message: e.data.message }), ...leaveRunning(row, e.data.at) }),
  PodTerminatedByProvider: (row, e) =>
    ({ ...status('terminated-provider', e.data.at, { reason: e.data.reason, status_message: e.data.message }), ...leaveRunning(row, e.data.at) }),
};

/** A pod's row as PodRequested makes it. */
function requested(e: EventEnvelope<any>): JsonRow {
  const d = e.data;
  return {
    pod_id: d.podId,
    tenant_id: e.tenantId,
    name: d.name,
    status: 'deploying',
    reason: null,
    status_message: null,
    provider: d.provider,
    machine_id: d.machineId,
    offer_id: d.offerId,
    resource_name: d.resourceName,
    gpu_type: d.gpuType,
    gpu_count: d.gpuCount,
    cpu_cores: d.cpuCores,
    ram_gb: d.ramGb,
    location: d.location,
    instance_type: d.instanceType,
    minimum_runtime_minutes: d.minimumRuntimeMinutes,
    price_per_gpu_hour: d.pricePerGpuHour,
    cost_per_hour: d.costPerHour,
    volume_size_gb: d.volumeSizeGb,
    template_id: d.templateId,
    image: d.image,
    ssh_key_ids: d.sshKeyIds,
    confidential: d.confidential,
    attested_at: null,
    instance_id: null,
    ip: null,
    ssh_port: null,
    ssh_silent_since: null,
    running_since: null,
    run_seconds: 0,
    status_at: d.requestedAt,
    created_at: d.requestedAt,
  };
}

/** pods_sessions: every pod of every organization, as lists and details show it. */
export const podSessionsProjection = rowsByKey({
  name: 'pods.sessions',
  table: 'pods_sessions',
  key: 'pod_id',
  columns: {
    pod_id: 'text',
    tenant_id: 'text',
    name: 'text',
    status: 'text',
    reason: 'text',
    status_message: 'text',
    provider: 'text',
    machine_id: 'text',
    offer_id: 'text',
    resource_name: 'text',
    gpu_type: 'text',
    gpu_count: 'integer',
    cpu_cores: 'integer',
    ram_gb: 'integer',
    location: 'text',
    instance_type: 'text',
    minimum_runtime_minutes: 'integer',
    price_per_gpu_hour: 'double precision',
    cost_per_hour: 'double precision',
    volume_size_gb: 'integer',
    template_id: 'text',
    image: 'text',
    ssh_key_ids: 'jsonb',
    confidential: 'boolean',
    attested_at: 'timestamptz',
    instance_id: 'text',
    ip: 'text',
    ssh_port: 'integer',
    ssh_silent_since: 'timestamptz',
    running_since: 'timestamptz',
    run_seconds: 'double precision',
    status_at: 'timestamptz',
    created_at: 'timestamptz',
  },
  keyOf: (e) => e.data.podId,
  handlers: {
    // A pod is made once: a repeated request leaves its row as it is.
    PodRequested: (row, e) => row ?? requested(e),
    ...Object.fromEntries(Object.entries(changes).map(([type, change]) => [type, (row: JsonRow | undefined, e: EventEnvelope<any>) => row && { ...row, ...change(row, e) }])),
  },
});
