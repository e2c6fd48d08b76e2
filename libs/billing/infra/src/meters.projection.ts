import type { Transaction } from 'kysely';
import type { EventEnvelope } from '@volt/contracts';
import { usdToMicros } from '@volt/ledger-contracts';
import { STORAGE_MICROS_PER_GB_HOUR } from '@volt/billing-contracts';
import { eachEvent } from '@volt/projections';

type Trx = Transaction<any>;

/** Ends the pod's open meter at the event's time, and records where in the global order it ended. */
async function close(trx: Trx, e: EventEnvelope<any>): Promise<void> {
  await trx
    .updateTable('billing_meters')
    .set({ ended_at: e.data.at, closed_transaction_id: e.transactionId, closed_position: e.position })
    .where('pod_id', '=', e.data.podId)
    .where('ended_at', 'is', null)
    .execute();
}

async function open(trx: Trx, e: EventEnvelope<any>, kind: 'gpu' | 'storage'): Promise<void> {
  const pod = await trx.selectFrom('billing_pods').selectAll().where('pod_id', '=', e.data.podId).executeTakeFirst();
  if (!pod) return;
  const rate = kind === 'gpu' ? Number(pod.gpu_rate) : Number(pod.volume_size_gb) * STORAGE_MICROS_PER_GB_HOUR;
  await trx
    .insertInto('billing_meters')
    .values({ meter_id: `${e.data.podId}:${e.position}`, pod_id: e.data.podId, tenant_id: pod.tenant_id, kind, rate, hold_id: kind === 'gpu' ? pod.hold_id : null, started_at: e.data.at, gpu_count: pod.gpu_count })
    .onConflict((oc) => oc.column('meter_id').doNothing())
    .execute();
}

/**
 * billing.meters: pods' prices (as launched) and their meters. GPU time runs from `running`
 * until the pod stops or ends (never during deploying or starting); storage runs while it
 * is stopped; nothing runs once it is deleted, failed or terminated.
 */
export const metersProjection = eachEvent('billing.meters', ['billing_meters', 'billing_pods'], {
  async PodRequested(trx, e: EventEnvelope<any>) {
    const d = e.data;
    await trx
      .insertInto('billing_pods')
      .values({ pod_id: d.podId, tenant_id: e.tenantId, provider: d.provider ?? 'unknown', gpu_type: d.gpuType ?? 'unknown', gpu_rate: usdToMicros(d.costPerHour.toFixed(6)), volume_size_gb: d.volumeSizeGb, hold_id: d.holdId, gpu_count: d.gpuCount ?? 1 })
      .onConflict((oc) => oc.column('pod_id').doNothing())
      .execute();
  },
  async PodUpdated(trx, e: EventEnvelope<any>) {
    const values: Record<string, unknown> = {};
    if (e.data.costPerHour !== undefined) values.gpu_rate = usdToMicros(e.data.costPerHour.toFixed(6));
    if (e.data.volumeSizeGb !== undefined) values.volume_size_gb = e.data.volumeSizeGb;
    if (e.data.gpuCount !== undefined) values.gpu_count = e.data.gpuCount;
    if (Object.keys(values).length > 0) await trx.updateTable('billing_pods').set(values).where('pod_id', '=', e.data.podId).execute();
    // A volume resized while stopped is charged at its new size from then on, not from the next stop.
    if (e.data.volumeSizeGb !== undefined) {
      const storing = await trx.selectFrom('billing_meters').select('meter_id').where('pod_id', '=', e.data.podId).where('kind', '=', 'storage').where('ended_at', 'is', null).executeTakeFirst();
      if (storing) {
        await close(trx, e);
        await open(trx, e, 'storage');
      }
    }
  },
  async PodStartRequested(trx, e: EventEnvelope<any>) {
    await trx.updateTable('billing_pods').set({ hold_id: e.data.holdId }).where('pod_id', '=', e.data.podId).execute();
  },
  async PodRunning(trx, e) {
    await close(trx, e);
    await open(trx, e, 'gpu');
  },
  async PodStopRequested(trx, e) {
    await close(trx, e);
    await open(trx, e, 'storage');
  },
  PodDeleteRequested: close,
  PodFailed: close,
  PodTerminatedByProvider: close,
});
