import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

export const podsMigrations: Record<string, Migration> = {
  '2026-11-22T0100-pods-ssh-keys': {
    async up(db: Kysely<any>) {
      await sql`CREATE TABLE pods_ssh_keys (
        tenant_id    text NOT NULL,
        key_id       text NOT NULL,
        name         text NOT NULL,
        public_key   text NOT NULL,
        key_type     text NOT NULL,
        fingerprint  text NOT NULL,
        created_at   timestamptz NOT NULL,
        PRIMARY KEY (tenant_id, key_id)
      )`.execute(db);
      await sql`CREATE INDEX pods_ssh_keys_by_created ON pods_ssh_keys (tenant_id, created_at, key_id)`.execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`DROP TABLE IF EXISTS pods_ssh_keys`.execute(db);
    },
  },
  '2026-11-22T0202-pods-templates-and-credentials': {
    async up(db: Kysely<any>) {
      // tenant_id is NULL for Volt's system templates, which every organization sees.
      await sql`CREATE TABLE pods_templates (
        template_id           text PRIMARY KEY,
        tenant_id             text,
        name                  text NOT NULL,
        image                 text NOT NULL,
        category              text NOT NULL,
        description           text NOT NULL,
        docker_credential_id  text,
        ports                 jsonb NOT NULL,
        env_vars              jsonb NOT NULL,
        is_system             boolean NOT NULL,
        created_at            timestamptz NOT NULL
      )`.execute(db);
      await sql`CREATE INDEX pods_templates_by_tenant ON pods_templates (tenant_id, created_at, template_id)`.execute(db);
      await sql`CREATE TABLE pods_docker_credentials (
        tenant_id      text NOT NULL,
        credential_id  text NOT NULL,
        name           text NOT NULL,
        registry       text NOT NULL,
        username       text NOT NULL,
        created_at     timestamptz NOT NULL,
        PRIMARY KEY (tenant_id, credential_id)
      )`.execute(db);
      // Not a read model: the only copy of each sealed password. Never rebuilt, erased on delete.
      await sql`CREATE TABLE pods_docker_secrets (
        tenant_id      text NOT NULL,
        credential_id  text NOT NULL,
        key_id         text NOT NULL,
        iv             text NOT NULL,
        ciphertext     text NOT NULL,
        tag            text NOT NULL,
        PRIMARY KEY (tenant_id, credential_id)
      )`.execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`DROP TABLE IF EXISTS pods_docker_secrets, pods_docker_credentials, pods_templates`.execute(db);
    },
  },
  '2026-11-23T0100-pods-sessions-and-catalogue': {
    async up(db: Kysely<any>) {
      // The session-state read model: one row per pod, desired and observed state together.
      await sql`CREATE TABLE pods_sessions (
        pod_id                   text PRIMARY KEY,
        tenant_id                text NOT NULL,
        name                     text NOT NULL,
        status                   text NOT NULL,
        reason                   text,
        status_message           text,
        provider                 text NOT NULL,
        machine_id               text NOT NULL,
        offer_id                 text NOT NULL,
        resource_name            text,
        gpu_type                 text NOT NULL,
        gpu_count                integer NOT NULL,
        cpu_cores                integer NOT NULL,
        ram_gb                   integer NOT NULL,
        location                 text NOT NULL,
        instance_type            text NOT NULL,
        minimum_runtime_minutes  integer NOT NULL,
        price_per_gpu_hour       double precision NOT NULL,
        cost_per_hour            double precision NOT NULL,
        volume_size_gb           integer NOT NULL,
        template_id              text,
        image                    text NOT NULL,
        ssh_key_ids              jsonb NOT NULL,
        confidential             boolean NOT NULL,
        attested_at              timestamptz,
        instance_id              text,
        ip                       text,
        ssh_port                 integer,
        running_since            timestamptz,
        run_seconds              double precision NOT NULL DEFAULT 0,
        status_at                timestamptz NOT NULL,
        created_at               timestamptz NOT NULL
      )`.execute(db);
      await sql`CREATE INDEX pods_sessions_by_tenant ON pods_sessions (tenant_id, created_at DESC, pod_id)`.execute(db);
      await sql`CREATE INDEX pods_sessions_live ON pods_sessions (status) WHERE status NOT IN ('deleted', 'failed', 'terminated-provider')`.execute(db);
      // The catalogue: a cache of what the providers offer now, refreshed from them (not event-sourced).
      await sql`CREATE TABLE pods_machines (
        machine_id               text PRIMARY KEY,
        provider                 text NOT NULL,
        offer_id                 text NOT NULL,
        resource_name            text,
        gpu_type                 text NOT NULL,
        gpu_count                integer NOT NULL,
        gpu_vram_gb              integer NOT NULL,
        cpu_cores                integer NOT NULL,
        ram_gb                   integer NOT NULL,
        storage_gb               integer NOT NULL,
        cost_per_gpu_hour        double precision NOT NULL,
        available_gpus           integer NOT NULL,
        location                 text NOT NULL,
        confidential             boolean NOT NULL,
        instance_type            text NOT NULL,
        minimum_runtime_minutes  integer NOT NULL,
        refreshed_at             timestamptz NOT NULL
      )`.execute(db);
      await sql`CREATE TABLE pods_providers (
        name          text PRIMARY KEY,
        kind          text NOT NULL,
        status        text NOT NULL,
        machines      integer NOT NULL,
        refreshed_at  timestamptz
      )`.execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`DROP TABLE IF EXISTS pods_providers, pods_machines, pods_sessions`.execute(db);
    },
  },
  '2026-11-30T0600-pods-ssh-silent-since': {
    async up(db: Kysely<any>) {
      // When a running pod's SSH stopped answering (null while it answers): the reconciler's cue
      // to record that it answers again, and the detail's to say so.
      await sql`ALTER TABLE pods_sessions ADD COLUMN ssh_silent_since timestamptz`.execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`ALTER TABLE pods_sessions DROP COLUMN IF EXISTS ssh_silent_since`.execute(db);
    },
  },
  '2026-12-01T0700-pods-ssh-keys-removed-kept': {
    async up(db: Kysely<any>) {
      // A key removed from the organization stays on the machines running with it until they are
      // redeployed (seed 000), so the read model keeps it, marked removed. Keys removed before
      // this are put back from the store (as a rebuild would), marked with their removal's time.
      await sql`ALTER TABLE pods_ssh_keys ADD COLUMN removed_at timestamptz`.execute(db);
      const { rows } = await sql<{ store: string | null }>`SELECT to_regclass('es_events')::text AS store`.execute(db);
      if (!rows[0].store) return;
      await sql`
        INSERT INTO pods_ssh_keys (tenant_id, key_id, name, public_key, key_type, fingerprint, created_at, removed_at)
        SELECT a.tenant_id, a.data->>'keyId', a.data->>'name', a.data->>'publicKey', a.data->>'keyType', a.data->>'fingerprint',
               (a.data->>'addedAt')::timestamptz, (r.data->>'removedAt')::timestamptz
        FROM es_events a JOIN es_events r ON r.type = 'SshKeyRemoved' AND r.stream_id = a.stream_id AND r.data->>'keyId' = a.data->>'keyId'
        WHERE a.type = 'SshKeyAdded'
        ON CONFLICT (tenant_id, key_id) DO NOTHING`.execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`DELETE FROM pods_ssh_keys WHERE removed_at IS NOT NULL`.execute(db);
      await sql`ALTER TABLE pods_ssh_keys DROP COLUMN IF EXISTS removed_at`.execute(db);
    },
  },
};
