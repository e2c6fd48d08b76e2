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
  '2026-11-30T1300-projection-generations': {
    async up(db: Kysely<any>) {
      // A rebuild starts a new generation of the read model instead of deleting the checkpoint:
      // a running instance that finds the generation changed under it drops its position and
      // follows the rebuild's checkpoint, rather than moving it past what is yet to be replayed.
      await sql`ALTER TABLE proj_checkpoints ADD COLUMN generation integer NOT NULL DEFAULT 0`.execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`ALTER TABLE proj_checkpoints DROP COLUMN generation`.execute(db);
    },
  },
  '2026-12-01T0300-projection-rebuild-beside': {
    async up(db: Kysely<any>) {
      // Rebuilds now build a read model's tables beside the ones in use and swap them in, so the
      // running instances never see them emptied; there is no generation left to follow.
      await sql`ALTER TABLE proj_checkpoints DROP COLUMN generation`.execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`ALTER TABLE proj_checkpoints ADD COLUMN generation integer NOT NULL DEFAULT 0`.execute(db);
    },
  },
};
