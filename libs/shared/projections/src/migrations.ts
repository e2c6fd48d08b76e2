import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

export const projectionMigrations: Record<string, Migration> = {
  '2026-11-22T0003-projections': {
    async up(db: Kysely<any>) {
      await sql`CREATE TABLE proj_checkpoints (
        name            text PRIMARY KEY,
        transaction_id  xid8 NOT NULL,
        position        bigint NOT NULL,
        updated_at      timestamptz NOT NULL DEFAULT now()
      )`.execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`DROP TABLE IF EXISTS proj_checkpoints`.execute(db);
    },
  },
};
