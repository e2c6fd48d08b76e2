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
};
