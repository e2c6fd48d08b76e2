import { z } from 'zod';
import { defineEvent } from '@volt/contracts';

export * from './price-book';

/**
 * An organization's usage could not be paid from its balance: what was not paid went to its
 * arrears account, and its running pods are to be stopped (not deleted).
 */
export const BalanceExhausted = defineEvent(
  'billing',
  'BalanceExhausted',
  z.object({ tenantId: z.string(), podId: z.string(), chargeId: z.string(), unpaid: z.number().int(), at: z.iso.datetime() }),
);

/**
 * The organization has been at zero balance, owing arrears, since `zeroSince`: unless it pays,
 * its stopped pods (`podIds`) are deleted at `deleteAt`. Emitted once, a warning period before.
 */
export const PodsDeletionScheduled = defineEvent(
  'billing',
  'PodsDeletionScheduled',
  z.object({ tenantId: z.string(), zeroSince: z.iso.datetime(), deleteAt: z.iso.datetime(), podIds: z.array(z.string()), at: z.iso.datetime() }),
);

/** The grace period at zero balance is over: the organization's stopped pods are to be deleted. */
export const GracePeriodExpired = defineEvent(
  'billing',
  'GracePeriodExpired',
  z.object({ tenantId: z.string(), zeroSince: z.iso.datetime(), podIds: z.array(z.string()), at: z.iso.datetime() }),
);

/** The organization's arrears are paid: its grace clock is stopped and nothing is scheduled for deletion. */
export const BalanceRestored = defineEvent('billing', 'BalanceRestored', z.object({ tenantId: z.string(), zeroSince: z.iso.datetime(), at: z.iso.datetime() }));

export const billingEvents = [BalanceExhausted, PodsDeletionScheduled, GracePeriodExpired, BalanceRestored] as const;
export const billingStream = (tenantId: string) => `billing:org:${tenantId}`;

const Day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date YYYY-MM-DD').refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)), { message: 'not a calendar date', params: { rule: 'date' } });

/** GET /api/volt/costs (seed 003). Dates are UTC days, end inclusive; default: this month so far. */
export const CostQuerySchema = z.object({
  session_id: z.string().regex(/^pod_[A-Za-z0-9]{1,64}$/).optional(),
  start_date: Day.optional(),
  end_date: Day.optional(),
  period: z.enum(['daily', 'monthly']).optional(),
});
export const CostSummarySchema = z
  .object({
    consumer_id: z.string(),
    total_cost: z.number(),
    currency: z.literal('USD'),
    session_count: z.number().int(),
    hours_used: z.number(),
    by_provider: z.record(z.string(), z.number()),
    by_gpu_type: z.record(z.string(), z.number()),
    period: z.enum(['daily', 'monthly']).optional(),
    by_period: z.array(z.object({ period: z.string(), total_cost: z.number() })).optional(),
  })
  .meta({ id: 'CostSummary' });
export const SessionCostSchema = z.object({ session_id: z.string(), total_cost: z.number(), currency: z.literal('USD') }).meta({ id: 'SessionCost' });

/** GET /v1/usage: UTC days, end inclusive; default the last 30 days. */
export const UsageQuerySchema = z.object({ from: Day.optional(), to: Day.optional() });
export const UsageListSchema = z
  .object({
    usage: z.array(z.object({ date: z.string(), resource: z.string(), gpu_seconds: z.number().int(), storage_seconds: z.number().int(), cost: z.number(), currency: z.literal('USD') })),
    total: z.number().int(),
  })
  .meta({ id: 'UsageList' });
