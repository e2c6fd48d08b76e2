import { sql, type Transaction } from 'kysely';
import type { EventEnvelope } from '@volt/contracts';
import { eachEvent } from '@volt/projections';

type Trx = Transaction<any>;
const set = async (trx: Trx, podId: string, values: Record<string, unknown>): Promise<void> => {
  await trx.updateTable('pods_sessions').set(values).where('pod_id', '=', podId).execute();
};

/** Leaving `running` folds the open interval into run_seconds. */
const leaveRunning = (at: string) => ({
  run_seconds: sql`run_seconds + COALESCE(GREATEST(0, EXTRACT(EPOCH FROM (${at}::timestamptz - running_since))), 0)`,
  running_since: null,
});

const status = (s: string, at: string, extra: Record<string, unknown> = {}) => ({ status: s, status_at: at, reason: null, status_message: null, ssh_silent_since: null, ...extra });

/** pods_sessions: every pod of every organization, as lists and details show it. */
export const podSessionsProjection = eachEvent('pods.sessions', ['pods_sessions'], {
  async PodRequested(trx, e: EventEnvelope<any>) {
    const d = e.data;
    await trx
      .insertInto('pods_sessions')
      .values({
        pod_id: d.podId,
        tenant_id: e.tenantId,
        name: d.name,
        status: 'deploying',
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
        ssh_key_ids: JSON.stringify(d.sshKeyIds),
        confidential: d.confidential,
        status_at: d.requestedAt,
        created_at: d.requestedAt,
      })
      .onConflict((oc) => oc.column('pod_id').doNothing())
      .execute();
  },
  PodProvisioned: (trx, e) => set(trx, e.data.podId, { instance_id: e.data.instanceId }),
  PodAttestationRecorded: (trx, e) => set(trx, e.data.podId, { attested_at: e.data.at }),
  PodRunning: (trx, e) => set(trx, e.data.podId, status('running', e.data.at, { ip: e.data.ip, ssh_port: e.data.sshPort, running_since: e.data.at })),
  PodAddressChanged: (trx, e) => set(trx, e.data.podId, { ip: e.data.ip, ssh_port: e.data.sshPort }),
  PodSshSilent: (trx, e) => set(trx, e.data.podId, { ssh_silent_since: e.data.at, status_message: e.data.message }),
  PodSshAnswered: (trx, e) => set(trx, e.data.podId, { ssh_silent_since: null, status_message: null }),
  PodStopRequested: (trx, e) => set(trx, e.data.podId, { ...status('stopping', e.data.at), ...leaveRunning(e.data.at), reason: e.data.reason }),
  PodStopped: (trx, e) => set(trx, e.data.podId, { status: 'stopped', status_at: e.data.at }),
  PodStartRequested: (trx, e) => set(trx, e.data.podId, { ...status('starting', e.data.at), attested_at: null }),
  PodStartRefused: (trx, e) => set(trx, e.data.podId, status('stopped', e.data.at, { status_message: e.data.message })),
  async PodUpdated(trx, e: EventEnvelope<any>) {
    const d = e.data;
    const values: Record<string, unknown> = {};
    if (d.name !== undefined) values.name = d.name;
    if (d.sshKeyIds !== undefined) values.ssh_key_ids = JSON.stringify(d.sshKeyIds);
    if (d.volumeSizeGb !== undefined) values.volume_size_gb = d.volumeSizeGb;
    if (d.gpuCount !== undefined) values.gpu_count = d.gpuCount;
    if (d.costPerHour !== undefined) values.cost_per_hour = d.costPerHour;
    if (d.cpuCores !== undefined) values.cpu_cores = d.cpuCores;
    if (d.ramGb !== undefined) values.ram_gb = d.ramGb;
    await set(trx, d.podId, values);
  },
  PodDeleteRequested: (trx, e) =>
    set(trx, e.data.podId, { ...status('deleting', e.data.at, { reason: e.data.reason ?? null, status_message: e.data.message ?? null }), ...leaveRunning(e.data.at) }),
  PodDeleted: (trx, e) => set(trx, e.data.podId, { status: 'deleted', status_at: e.data.at, ip: null, ssh_port: null }),
  PodFailed: (trx, e) => set(trx, e.data.podId, { ...status('failed', e.data.at, { reason: e.data.reason, status_message: e.data.message }), ...leaveRunning(e.data.at) }),
  PodTerminatedByProvider: (trx, e) =>
    set(trx, e.data.podId, { ...status('terminated-provider', e.data.at, { reason: e.data.reason, status_message: e.data.message }), ...leaveRunning(e.data.at) }),
});
