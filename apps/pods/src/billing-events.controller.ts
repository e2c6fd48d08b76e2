import { Controller, Inject } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import type { EventEnvelope } from '@volt/contracts';
import { BalanceExhausted, GracePeriodExpired } from '@volt/billing-contracts';
import { podsInStatus, type PodLifecycle } from '@volt/pods-infra';
import { RUNTIME, type VoltRuntime } from '@volt/platform';
import { POD_LIFECYCLE } from './tokens';

/**
 * What the pods context does about billing's news: an organization out of money has its
 * running pods stopped, not deleted; once its grace period at zero balance is over, its
 * stopped pods are deleted. The decision ids derive from the event's: a redelivery acts once.
 */
@Controller()
export class BillingEventsController {
  constructor(
    @Inject(RUNTIME) private readonly runtime: VoltRuntime,
    @Inject(POD_LIFECYCLE) private readonly pods: PodLifecycle,
  ) {}

  @EventPattern('volt.evt.billing.BalanceExhausted')
  async balanceExhausted(@Payload() event: EventEnvelope) {
    const data = BalanceExhausted.schema.parse(event.data);
    const running = await podsInStatus(this.runtime.db, data.tenantId, ['running']);
    for (const row of running) await this.pods.stopFor(row, 'insufficient_balance', `exhausted-${event.id}`);
    if (running.length > 0) this.runtime.logger.warn({ tenantId: data.tenantId, stopped: running.length }, 'balance exhausted: running pods stopped');
  }

  @EventPattern('volt.evt.billing.GracePeriodExpired')
  async gracePeriodExpired(@Payload() event: EventEnvelope) {
    const data = GracePeriodExpired.schema.parse(event.data);
    // The pods stopped now, whichever billing named: one still stopping when billing looked is deleted too.
    const stopped = await podsInStatus(this.runtime.db, data.tenantId, ['stopped', 'stopping']);
    const message = `Deleted after the grace period at zero balance (since ${data.zeroSince}) ended with arrears unpaid.`;
    for (const row of stopped) await this.pods.deleteFor(row, 'insufficient_balance', message, `grace-${event.id}`);
    if (stopped.length > 0) this.runtime.logger.warn({ tenantId: data.tenantId, deleted: stopped.length }, 'grace period at zero balance over: stopped pods deleted');
  }
}
