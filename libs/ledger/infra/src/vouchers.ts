import { randomBytes } from 'node:crypto';
import type { Database } from '@volt/event-store';
import { SYSTEM_ACCOUNTS, customerAccount, microsToUsd, type LedgerOutcome } from '@volt/ledger-contracts';
import type { Ledger } from './ledger';

export async function createVoucher(db: Database, v: { code?: string; amount: number; maxRedemptions: number; expiresAt: Date | null }): Promise<string> {
  const code = v.code ?? `VOLT-${randomBytes(6).toString('hex').toUpperCase()}`;
  await db.insertInto('ledger_vouchers').values({ code, amount: v.amount, max_redemptions: v.maxRedemptions, expires_at: v.expiresAt }).execute();
  return code;
}

export type Redemption = { ok: true; amount: number; duplicate: boolean; transferId: string } | { ok: false; code: 'NOT_FOUND' | 'CONFLICT'; message: string };

/**
 * Redeems a voucher for an organization: the redemption is recorded first (under the
 * voucher's row lock, so its limit holds under concurrency), then credited by a transfer
 * whose id is derived from code and organization. A crash in between is finished by a retry.
 */
export async function redeemVoucher(db: Database, ledger: Ledger, orgId: string, rawCode: string): Promise<Redemption> {
  const code = rawCode.trim().toUpperCase();
  const outcome = await db.transaction().execute(async (trx) => {
    const voucher = await trx.selectFrom('ledger_vouchers').selectAll().where('code', '=', code).forUpdate().executeTakeFirst();
    if (!voucher) return { error: 'NOT_FOUND' as const };
    const mine = await trx.selectFrom('ledger_voucher_redemptions').select('code').where('code', '=', code).where('tenant_id', '=', orgId).executeTakeFirst();
    if (mine) return { amount: Number(voucher.amount), again: true };
    if (voucher.expires_at && (voucher.expires_at as Date) < new Date()) return { error: 'EXPIRED' as const };
    const used = await trx.selectFrom('ledger_voucher_redemptions').select((eb) => eb.fn.countAll<string>().as('n')).where('code', '=', code).executeTakeFirstOrThrow();
    if (Number(used.n) >= Number(voucher.max_redemptions)) return { error: 'USED_UP' as const };
    await trx.insertInto('ledger_voucher_redemptions').values({ code, tenant_id: orgId }).execute();
    return { amount: Number(voucher.amount), again: false };
  });
  if ('error' in outcome) {
    if (outcome.error === 'NOT_FOUND') return { ok: false, code: 'NOT_FOUND', message: 'Voucher code not found.' };
    return { ok: false, code: 'CONFLICT', message: outcome.error === 'EXPIRED' ? 'This voucher has expired.' : 'This voucher has been fully redeemed.' };
  }
  const transferId = `voucher:${code}:${orgId}`;
  const credited: LedgerOutcome = await ledger.transfer({
    id: transferId,
    debit: SYSTEM_ACCOUNTS.promotions,
    credit: customerAccount(orgId),
    amount: outcome.amount,
    resource: null,
    description: `voucher ${code}`,
  });
  if (!credited.ok) throw new Error(`voucher credit refused: ${credited.message}`);
  return { ok: true, amount: microsToUsd(outcome.amount), duplicate: outcome.again && credited.duplicate, transferId };
}
