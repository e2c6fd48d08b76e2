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
};
