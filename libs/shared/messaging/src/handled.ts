import { sql, type Transaction } from 'kysely';
import type { Database } from '@volt/event-store';

/**
 * Runs `fn` once per (consumer, message id): the record of having handled the
 * message commits in the same transaction as what the handler wrote, so a
 * redelivery finds the record and does nothing. Returns false for a repeat.
 */
export async function handleOnce(
  db: Database,
  consumer: string,
  messageId: string,
  fn: (trx: Transaction<any>) => Promise<void>,
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const inserted = await sql`INSERT INTO msg_handled (consumer, message_id) VALUES (${consumer}, ${messageId})
      ON CONFLICT DO NOTHING`.execute(trx);
    if (Number(inserted.numAffectedRows ?? 0) === 0) return false;
    await fn(trx);
    return true;
  });
}
