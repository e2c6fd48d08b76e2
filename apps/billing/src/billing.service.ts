import { z } from 'zod';
import { parseConfig, serviceModule, type ServiceDefinition } from '@volt/platform';
import { ChargingCycle, GracePolicy, metersProjection } from '@volt/billing-infra';
import { Ledger } from '@volt/ledger-infra';
import { allMigrations } from '@volt/schema';
import { PodEventsController, SETTLE_SOON } from './pod-events.controller';

const BillingConfigSchema = z.object({
  /** How often accrued usage is charged (and the width of a charge window). */
  VOLT_BILLING_CADENCE_MS: z.coerce.number().int().min(100).default(60_000),
  /** How long an organization may stay at zero balance (owing arrears) before its stopped pods are deleted. */
  VOLT_BILLING_GRACE_MS: z.coerce.number().int().min(1).default(72 * 3_600_000),
  /** How long before that deletion PodsDeletionScheduled warns of it. */
  VOLT_BILLING_GRACE_WARNING_MS: z.coerce.number().int().min(0).default(24 * 3_600_000),
  /** Testing only: the process kills itself after charging this many windows (the crash tests). */
  VOLT_FAULT_CRASH_AFTER_CHARGES: z.coerce.number().int().min(1).optional(),
});

/**
 * The billing service: meters follow pod events (read model billing.meters) and a cycle
 * every cadence, and a moment after a pod stops or ends, charges them through the ledger. One
 * ledger whoever calls it: its rules live in the database functions, so billing posts charges
 * through the ledger library.
 */
export function billingService(env: NodeJS.ProcessEnv = process.env): ServiceDefinition {
  const config = parseConfig(BillingConfigSchema, env);
  let timer: NodeJS.Timeout | undefined;
  let settleTimer: NodeJS.Timeout | undefined;
  // Cycles of this process run one after another (across processes, the cycle's lock decides).
  let chain: Promise<unknown> = Promise.resolve();
  let runOnce: (() => Promise<unknown>) | undefined;
  const settleSoon = () => {
    if (!runOnce || settleTimer) return;
    // A burst of stops (an exhausted organization's pods) is settled by one run.
    settleTimer = setTimeout(() => {
      settleTimer = undefined;
      void runOnce?.();
    }, 250);
  };
  return {
    service: 'billing',
    defaultPort: 8082,
    migrations: allMigrations,
    projections: [metersProjection],
    transport: true,
    relay: true,
    module: (runtime) => serviceModule(runtime, { controllers: [PodEventsController], providers: [{ provide: SETTLE_SOON, useValue: { soon: settleSoon } }] }),
    async onStart(runtime) {
      let charged = 0;
      const crashAfter = config.VOLT_FAULT_CRASH_AFTER_CHARGES;
      const afterCharge = crashAfter ? () => ++charged >= crashAfter && process.kill(process.pid, 'SIGKILL') : undefined;
      const ledger = new Ledger(runtime.db);
      const cycle = new ChargingCycle(runtime.db, runtime.store, ledger, config.VOLT_BILLING_CADENCE_MS, runtime.logger, afterCharge);
      const grace = new GracePolicy(runtime.db, runtime.store, ledger, config.VOLT_BILLING_GRACE_MS, config.VOLT_BILLING_GRACE_WARNING_MS, runtime.logger);
      runOnce = () =>
        (chain = chain
          .then(() => runtime.projections.catchUp())
          .then(() => cycle.run())
          .then(async (r) => {
            if (r.charges > 0) runtime.logger.info(r, 'charged usage');
            await grace.run(r.exhausted);
          })
          .catch((error) => runtime.logger.error({ err: error }, 'charging cycle failed; the next one retries it'))
          .finally(() => runtime.appended()));
      const tick = () => {
        void runOnce!().finally(() => {
          if (timer) timer = setTimeout(tick, config.VOLT_BILLING_CADENCE_MS);
        });
      };
      // The first cycle right after start: usage accrued while no billing instance ran is charged now.
      timer = setTimeout(tick, 1000);
    },
    async onStop() {
      clearTimeout(timer);
      clearTimeout(settleTimer);
      timer = undefined;
      runOnce = undefined;
      await chain;
    },
  };
}
