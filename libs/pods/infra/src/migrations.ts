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
};
