import type { DomainError } from '@volt/contracts';

/**
 * How the pods context asks the ledger to reserve a pod's first hour, and to give it back.
 * The pods app implements it with commands to the ledger service.
 */
export interface HoldPort {
  place(tenantId: string, hold: { holdId: string; amount: number; resource: string; description: string; correlationId: string }): Promise<{ ok: true } | { ok: false; error: DomainError }>;
  /** Best effort: a hold that is not released expires by itself. */
  release(tenantId: string, holdId: string, correlationId: string): Promise<void>;
}

/** A pod's hold covers its first hour; it expires on its own after this long if never released. */
export const HOLD_TTL_MS = 2 * 3600_000;
