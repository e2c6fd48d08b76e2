import { z } from 'zod';
import { defineEvent } from '@volt/contracts';

/** Seed 002: storage costs 0.000137 USD per GB-hour, i.e. 137 micro-dollars. */
export const STORAGE_MICROS_PER_GB_HOUR = 137;

/**
 * An organization's usage could not be paid from its balance: what was not paid went to its
 * arrears account, and its running pods are to be stopped (not deleted).
 */
export const BalanceExhausted = defineEvent(
  'billing',
  'BalanceExhausted',
  z.object({ tenantId: z.string(), podId: z.string(), chargeId: z.string(), unpaid: z.number().int(), at: z.iso.datetime() }),
);

export const billingEvents = [BalanceExhausted] as const;
export const billingStream = (tenantId: string) => `billing:org:${tenantId}`;
