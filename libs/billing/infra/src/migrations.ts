import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

export const billingMigrations: Record<string, Migration> = {
  '2026-11-23T0600-billing-meters': {
    async up(db: Kysely<any>) {
      // Read model of the pods' prices and holds, projected from pod events.
      await sql`CREATE TABLE billing_pods (
        pod_id          text PRIMARY KEY,
        tenant_id       text NOT NULL,
        provider        text NOT NULL,
        gpu_type        text NOT NULL,
        gpu_rate        bigint NOT NULL,
        volume_size_gb  integer NOT NULL,
        hold_id         text
      )`.execute(db);
      // One meter per stretch of usage at one rate: GPU time while running, storage while stopped.
      // Rates are micro-dollars per hour; charged_until moves as charges are posted.
      await sql`CREATE TABLE billing_meters (
        meter_id       text PRIMARY KEY,
        pod_id         text NOT NULL,
        tenant_id      text NOT NULL,
        kind           text NOT NULL,
        rate           bigint NOT NULL,
        hold_id        text,
        started_at     timestamptz NOT NULL,
        ended_at       timestamptz
      )`.execute(db);
      await sql`CREATE INDEX billing_meters_open ON billing_meters (pod_id) WHERE ended_at IS NULL`.execute(db);
      // Not a read model: the charging cycle's own record, so a retried window repeats its first decision.
      await sql`CREATE TABLE billing_charges (
        meter_id    text NOT NULL,
        win         bigint NOT NULL,
        amount      bigint NOT NULL,
        mode        text NOT NULL,
        charged_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (meter_id, win)
      )`.execute(db);
      await sql`CREATE TABLE billing_progress (
        meter_id        text PRIMARY KEY,
        charged_until   timestamptz NOT NULL
      )`.execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`DROP TABLE IF EXISTS billing_progress, billing_charges, billing_meters, billing_pods`.execute(db);
    },
  },
  '2026-11-24T0900-billing-grace': {
    async up(db: Kysely<any>) {
      // Not a read model: the grace clock of each organization at zero balance, kept by the charging cycle.
      await sql`CREATE TABLE billing_grace (
        tenant_id   text PRIMARY KEY,
        zero_since  timestamptz NOT NULL,
        warned_at   timestamptz,
        expired_at  timestamptz
      )`.execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`DROP TABLE IF EXISTS billing_grace`.execute(db);
    },
  },
  '2026-11-29T2200-billing-meter-lookups': {
    async up(db: Kysely<any>) {
      // Meters are kept for good, so a pod's cost (every pod detail) and an organization's usage
      // must not scan all of them: the open-meter index covers only pods still metering.
      await sql`CREATE INDEX billing_meters_by_pod ON billing_meters (pod_id)`.execute(db);
      await sql`CREATE INDEX billing_meters_by_tenant ON billing_meters (tenant_id, started_at)`.execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`DROP INDEX IF EXISTS billing_meters_by_pod, billing_meters_by_tenant`.execute(db);
    },
  },
  '2026-11-30T0100-billing-settled-through': {
    async up(db: Kysely<any>) {
      // Where in the global order each meter was closed (projected from the closing event), so the
      // charging cycle reads only meters closed after the point through which all are settled,
      // instead of every meter ever kept.
      await sql`ALTER TABLE billing_meters ADD COLUMN closed_transaction_id xid8, ADD COLUMN closed_position bigint`.execute(db);
      await sql`CREATE INDEX billing_meters_closed ON billing_meters (closed_transaction_id, closed_position)
        WHERE closed_transaction_id IS NOT NULL`.execute(db);
      // Closed without a place in the order (by an instance older than this migration): read every cycle.
      await sql`CREATE INDEX billing_meters_closed_unplaced ON billing_meters (meter_id)
        WHERE ended_at IS NOT NULL AND closed_transaction_id IS NULL`.execute(db);
      // Not a read model: the charging cycle's own mark; every meter closed at or before it is settled.
      await sql`CREATE TABLE billing_settled_through (
        one             boolean PRIMARY KEY DEFAULT true CHECK (one),
        transaction_id  xid8 NOT NULL,
        position        bigint NOT NULL
      )`.execute(db);
      // Meters closed before now were all closed by events the projection has applied: the
      // checkpoint it stored (in the projections' table, when this database has one) is a place at
      // or after each of them. When all of them are charged to their end, that is the mark too.
      await sql`DO $$ BEGIN
        IF to_regclass('proj_checkpoints') IS NOT NULL THEN
          UPDATE billing_meters m SET closed_transaction_id = c.transaction_id, closed_position = c.position
            FROM proj_checkpoints c WHERE c.name = 'billing.meters' AND m.ended_at IS NOT NULL;
          INSERT INTO billing_settled_through (transaction_id, position)
            SELECT c.transaction_id, c.position FROM proj_checkpoints c
            WHERE c.name = 'billing.meters' AND NOT EXISTS (
              SELECT 1 FROM billing_meters m LEFT JOIN billing_progress p USING (meter_id)
              WHERE m.ended_at IS NOT NULL AND coalesce(p.charged_until, m.started_at) < m.ended_at);
        END IF;
      END $$`.execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`DROP TABLE IF EXISTS billing_settled_through`.execute(db);
      await sql`DROP INDEX IF EXISTS billing_meters_closed, billing_meters_closed_unplaced`.execute(db);
      await sql`ALTER TABLE billing_meters DROP COLUMN IF EXISTS closed_transaction_id, DROP COLUMN IF EXISTS closed_position`.execute(db);
    },
  },
  '2026-12-01T0400-billing-meter-gpus': {
    async up(db: Kysely<any>) {
      // GPU-seconds are GPUs × seconds: each GPU meter keeps the pod's GPU count when it opened
      // (a pod resized while stopped runs at its new count from its next start).
      await sql`ALTER TABLE billing_pods ADD COLUMN gpu_count integer NOT NULL DEFAULT 1`.execute(db);
      await sql`ALTER TABLE billing_meters ADD COLUMN gpu_count integer NOT NULL DEFAULT 1`.execute(db);
      // Meters and pods already projected: their counts from the pods' events (a meter's id ends
      // with the position of the event that opened it). Events without a count had one GPU.
      await sql`DO $$ BEGIN
        IF to_regclass('es_events') IS NOT NULL THEN
          UPDATE billing_pods p SET gpu_count = coalesce((
            SELECT (e.data->>'gpuCount')::int FROM es_events e
            WHERE e.stream_id = 'pods:pod:' || p.pod_id AND e.type IN ('PodRequested', 'PodUpdated') AND e.data->>'gpuCount' IS NOT NULL
            ORDER BY e.stream_version DESC LIMIT 1), 1);
          UPDATE billing_meters m SET gpu_count = coalesce((
            SELECT (e.data->>'gpuCount')::int FROM es_events e
            WHERE e.stream_id = 'pods:pod:' || m.pod_id AND e.type IN ('PodRequested', 'PodUpdated') AND e.data->>'gpuCount' IS NOT NULL
              AND e.position <= substring(m.meter_id FROM '[0-9]+$')::bigint
            ORDER BY e.stream_version DESC LIMIT 1), 1)
          WHERE m.kind = 'gpu';
        END IF;
      END $$`.execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`ALTER TABLE billing_meters DROP COLUMN IF EXISTS gpu_count`.execute(db);
      await sql`ALTER TABLE billing_pods DROP COLUMN IF EXISTS gpu_count`.execute(db);
    },
  },
  '2026-12-02T1500-billing-planned': {
    async up(db: Kysely<any>) {
      // How far a cycle set out to charge each open meter, written before it charges: after a
      // crash, the windows past a stop that may have been charged (and are to be given back).
      await sql`ALTER TABLE billing_progress ADD COLUMN planned_until timestamptz`.execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`ALTER TABLE billing_progress DROP COLUMN IF EXISTS planned_until`.execute(db);
    },
  },
};
