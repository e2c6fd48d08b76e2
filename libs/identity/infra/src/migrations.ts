import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

export const identityMigrations: Record<string, Migration> = {
  '2026-11-22T0200-identity-read-models': {
    async up(db: Kysely<any>) {
      await sql`CREATE TABLE identity_orgs (
        org_id                  text PRIMARY KEY,
        slug                    text NOT NULL UNIQUE,
        name                    text NOT NULL,
        requests_per_hour       integer,
        pod_creates_per_15_min  integer,
        created_at              timestamptz NOT NULL
      )`.execute(db);
      await sql`CREATE TABLE identity_members (
        org_id     text NOT NULL,
        member_id  text NOT NULL,
        email      text NOT NULL,
        role       text NOT NULL,
        added_at   timestamptz NOT NULL,
        PRIMARY KEY (org_id, member_id)
      )`.execute(db);
      await sql`CREATE TABLE identity_api_keys (
        key_id       text PRIMARY KEY,
        org_id       text NOT NULL,
        name         text NOT NULL,
        key_hash     text NOT NULL UNIQUE,
        key_preview  text NOT NULL,
        scopes       text[] NOT NULL,
        role         text NOT NULL,
        created_at   timestamptz NOT NULL,
        revoked_at   timestamptz
      )`.execute(db);
      await sql`CREATE INDEX identity_api_keys_by_org ON identity_api_keys (org_id, created_at, key_id)`.execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`DROP TABLE IF EXISTS identity_api_keys, identity_members, identity_orgs`.execute(db);
    },
  },
  // The gateway's operational state: not event-sourced, because none of it is a business fact.
  '2026-11-22T0201-gateway-state': {
    async up(db: Kysely<any>) {
      await sql`CREATE TABLE gw_api_key_usage (key_id text PRIMARY KEY, last_used timestamptz NOT NULL)`.execute(db);
      await sql`CREATE TABLE gw_rate_windows (
        bucket        text NOT NULL,
        window_start  timestamptz NOT NULL,
        count         bigint NOT NULL,
        PRIMARY KEY (bucket, window_start)
      )`.execute(db);
      await sql`CREATE TABLE gw_idempotency (
        tenant_id     text NOT NULL,
        key           text NOT NULL,
        request_hash  text NOT NULL,
        state         text NOT NULL CHECK (state IN ('in_flight', 'done')),
        status        integer,
        body          text,
        started_at    timestamptz NOT NULL,
        expires_at    timestamptz NOT NULL,
        PRIMARY KEY (tenant_id, key)
      )`.execute(db);
      await sql`CREATE INDEX gw_idempotency_by_expiry ON gw_idempotency (expires_at)`.execute(db);
      await sql`CREATE TABLE gw_audit_log (
        id           bigserial PRIMARY KEY,
        tenant_id    text NOT NULL,
        actor_type   text NOT NULL,
        actor_id     text NOT NULL,
        method       text NOT NULL,
        route        text NOT NULL,
        resource_id  text,
        status       integer NOT NULL,
        request_id   text NOT NULL,
        trace_id     text,
        client_ip    text,
        occurred_at  timestamptz NOT NULL
      )`.execute(db);
      await sql`CREATE INDEX gw_audit_by_tenant ON gw_audit_log (tenant_id, id DESC)`.execute(db);
      // Append-only: the log refuses to be edited, so nobody can quietly rewrite it.
      await sql`CREATE FUNCTION gw_audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'gw_audit_log is append-only'; END $$`.execute(db);
      await sql`CREATE TRIGGER gw_audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON gw_audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION gw_audit_is_append_only()`.execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`DROP TABLE IF EXISTS gw_audit_log, gw_idempotency, gw_rate_windows, gw_api_key_usage`.execute(db);
      await sql`DROP FUNCTION IF EXISTS gw_audit_is_append_only()`.execute(db);
    },
  },
  '2026-11-30T1800-idempotency-attempts': {
    async up(db: Kysely<any>) {
      // A key whose attempt failed on our side is kept as 'abandoned' with its attempt count,
      // not deleted, so that the retry's commands get new ids (see IdempotencyStore.abandon).
      await sql`ALTER TABLE gw_idempotency ADD COLUMN attempt integer NOT NULL DEFAULT 0`.execute(db);
      await sql`ALTER TABLE gw_idempotency DROP CONSTRAINT gw_idempotency_state_check`.execute(db);
      await sql`ALTER TABLE gw_idempotency ADD CONSTRAINT gw_idempotency_state_check CHECK (state IN ('in_flight', 'done', 'abandoned'))`.execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`DELETE FROM gw_idempotency WHERE state = 'abandoned'`.execute(db);
      await sql`ALTER TABLE gw_idempotency DROP CONSTRAINT gw_idempotency_state_check`.execute(db);
      await sql`ALTER TABLE gw_idempotency ADD CONSTRAINT gw_idempotency_state_check CHECK (state IN ('in_flight', 'done'))`.execute(db);
      await sql`ALTER TABLE gw_idempotency DROP COLUMN attempt`.execute(db);
    },
  },
  '2026-12-01T0500-idempotency-without-key-secrets': {
    async up(db: Kysely<any>) {
      // Replays of an API key's creation kept the response, its secret with it; they now answer
      // that the secret cannot be shown again (ApiKeysService.create), and none is stored.
      const body = JSON.stringify({
        error: true,
        status: 409,
        message: 'This key was already created by an earlier attempt of this request; its secret cannot be shown again. Revoke it and create a new one.',
        code: 'CONFLICT',
      });
      await sql`UPDATE gw_idempotency SET status = 409, body = ${body} WHERE body LIKE '%"key":"volt\_sk\_%'`.execute(db);
    },
    async down() {
      // The secrets are gone for good.
    },
  },
};
