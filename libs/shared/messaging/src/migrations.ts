import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

export const messagingMigrations: Record<string, Migration> = {
  '2026-11-22T0002-messaging': {
    async up(db: Kysely<any>) {
      await sql`
        -- What each consumer has handled: a redelivered message finds its row and changes nothing.
        CREATE TABLE msg_handled (
          consumer    text NOT NULL,
          message_id  text NOT NULL,
          handled_at  timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (consumer, message_id)
        );
        -- How far the outbox relay has published the global order.
        CREATE TABLE msg_relay_checkpoints (
          name            text PRIMARY KEY,
          transaction_id  xid8 NOT NULL,
          position        bigint NOT NULL,
          updated_at      timestamptz NOT NULL DEFAULT now()
        );
      `.execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`DROP TABLE IF EXISTS msg_handled, msg_relay_checkpoints`.execute(db);
    },
  },
};
