import { z } from 'zod';
import { defineCommand, defineEvent } from '@volt/contracts';

const at = z.iso.datetime();
const AccountId = z.string().regex(/^(cust|arrears|sys):[A-Za-z0-9_-]{1,64}$/);
export const TransferIdSchema = z.string().regex(/^[A-Za-z0-9:_.-]{1,128}$/);
const Micros = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

/**
 * A writer's claim to be the current one of its kind (`Ledger.advanceFence` gave it `epoch`). A
 * request carrying it is refused (SUPERSEDED) once a newer writer has advanced the fence: a
 * billing cycle that lost its lock cannot charge behind the cycle that took over.
 */
const FenceSchema = z.object({ name: z.string().min(1).max(64), epoch: z.number().int().positive() });
export type Fence = z.infer<typeof FenceSchema>;

/** What the ledger is asked to do; every request carries its own id and is applied at most once. */
export const LedgerRequestSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('transfer'),
    id: TransferIdSchema,
    debit: AccountId,
    credit: AccountId,
    amount: Micros,
    resource: z.string().max(200).nullable().default(null),
    description: z.string().max(200).default(''),
    fence: FenceSchema.optional(),
  }),
  z.object({
    kind: z.literal('hold'),
    id: TransferIdSchema,
    debit: AccountId,
    credit: AccountId,
    amount: Micros,
    expiresAt: at,
    resource: z.string().max(200).nullable().default(null),
    description: z.string().max(200).default(''),
  }),
  z.object({
    kind: z.literal('charge'),
    id: TransferIdSchema,
    debit: AccountId,
    credit: AccountId,
    amount: Micros,
    holdId: TransferIdSchema.nullable().default(null),
    resource: z.string().max(200).nullable().default(null),
    description: z.string().max(200).default(''),
    fence: FenceSchema.optional(),
  }),
  z.object({ kind: z.literal('capture'), id: TransferIdSchema, holdId: TransferIdSchema, amount: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }),
  z.object({ kind: z.literal('release'), id: TransferIdSchema, holdId: TransferIdSchema }),
]);
export type LedgerRequest = z.input<typeof LedgerRequestSchema>;

export type LedgerOutcome =
  | { ok: true; id: string; duplicate: boolean }
  | { ok: false; code: 'INSUFFICIENT_BALANCE' | 'CONFLICT' | 'NOT_FOUND' | 'VALIDATION_ERROR' | 'SUPERSEDED'; message: string };

const Entry = {
  transferId: z.string(),
  debit: z.string(),
  credit: z.string(),
  amount: z.number().int(),
  tenantId: z.string().nullable(),
  resource: z.string().nullable(),
  description: z.string(),
  at,
};

/** Money moved: `amount` micro-dollars from `debit` to `credit`. */
export const TransferPosted = defineEvent('ledger', 'TransferPosted', z.object(Entry));
/** Money reserved on `debit` (its available balance drops; its balance does not). */
export const HoldPlaced = defineEvent('ledger', 'HoldPlaced', z.object({ ...Entry, expiresAt: at }));
/** A hold closed: `captured` of it moved to `credit`, the rest returned. `how` says why it closed. */
export const HoldClosed = defineEvent(
  'ledger',
  'HoldClosed',
  z.object({ transferId: z.string(), holdId: z.string(), debit: z.string(), credit: z.string(), held: z.number().int(), captured: z.number().int(), how: z.enum(['captured', 'released', 'expired']), tenantId: z.string().nullable(), resource: z.string().nullable(), at }),
);

/** Usage paid: `fromHold` of `amount` came out of the resource's hold, the rest from the available balance. */
export const ChargePosted = defineEvent('ledger', 'ChargePosted', z.object({ ...Entry, holdId: z.string().nullable(), fromHold: z.number().int() }));

export const ledgerEvents = [TransferPosted, HoldPlaced, HoldClosed, ChargePosted] as const;
/**
 * The ledger's journal: every ledger event of a UTC day (the day its transaction ran) on one
 * stream, hash-chained like every stream, so an auditor verifies a day's money in one chain.
 */
export const ledgerJournal = (day: string) => `ledger:journal:${day}`;

/** POST /api/volt/billing/vouchers/redeem. */
export const RedeemVoucherBodySchema = z.strictObject({ code: z.string().trim().min(4).max(64).regex(/^[A-Za-z0-9-]+$/, 'letters, digits and hyphens') }).meta({ id: 'RedeemVoucherRequest' });
export const RedeemVoucher = defineCommand('ledger', 'RedeemVoucher', z.object({ code: z.string(), requestedAt: at }));


export const BalanceSchema = z
  .object({ balance: z.number(), held: z.number(), available: z.number(), arrears: z.number(), currency: z.literal('USD') })
  .meta({ id: 'Balance' });
export const TransactionSchema = z
  .object({ id: z.string(), type: z.string(), amount: z.number(), currency: z.literal('USD'), resource: z.string().nullable(), description: z.string(), created_at: z.string() })
  .meta({ id: 'Transaction' });
export const TransactionListSchema = z.object({ transactions: z.array(TransactionSchema), total: z.number().int() }).meta({ id: 'TransactionList' });
export const VoucherRedeemedSchema = z
  .object({ code: z.string(), amount: z.number(), currency: z.literal('USD'), message: z.string() })
  .meta({ id: 'VoucherRedeemed' });

/** Reserve money on the calling organization's balance (pods ask for a pod's first hour). */
export const PlaceHold = defineCommand(
  'ledger',
  'PlaceHold',
  z.object({ holdId: TransferIdSchema, amount: Micros, resource: z.string().max(200).nullable(), description: z.string().max(200), expiresAt: at, requestedAt: at }),
);
/** Give a hold back; releasing a hold that is unknown or already closed changes nothing. */
export const ReleaseHold = defineCommand('ledger', 'ReleaseHold', z.object({ holdId: TransferIdSchema, requestedAt: at }));
export const ledgerCommands = [RedeemVoucher, PlaceHold, ReleaseHold] as const;
