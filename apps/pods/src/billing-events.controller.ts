import { Inject } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { MessageHandlers } from '@volt/messaging';
import type { EventEnvelope } from '@volt/contracts';
import { BalanceExhausted, GracePeriodExpired } from '@volt/billing-contracts';
import type { PodLifecycle } from '@volt/pods-infra';
import { RUNTIME, type VoltRuntime } from '@volt/platform';
import { POD_LIFECYCLE } from './tokens';

/**
 * What the pods context does about billing's news: an organization out of money has its
 * running pods stopped, not deleted; once its grace period at zero balance is over, its
 * stopped pods are deleted (the rules are PodLifecycle's; the ids derive from the event's).
 */
@MessageHandlers()
export class BillingEventsController {
  constructor(
    @Inject(RUNTIME) private readonly runtime: VoltRuntime,
    @Inject(POD_LIFECYCLE) private readonly pods: PodLifecycle,
  ) {}

  @EventPattern('volt.evt.billing.BalanceExhausted')
  async balanceExhausted(@Payload() event: EventEnvelope) {
    const { tenantId } = BalanceExhausted.schema.parse(event.data);
    const stopped = await this.pods.stopForUnpaid(tenantId, event.id);
    if (stopped > 0) this.runtime.logger.warn({ tenantId, stopped }, 'balance exhausted: running pods stopped');
  }

  @EventPattern('volt.evt.billing.GracePeriodExpired')
  async gracePeriodExpired(@Payload() event: EventEnvelope) {
    const { tenantId, zeroSince } = GracePeriodExpired.schema.parse(event.data);
    const deleted = await this.pods.deleteForUnpaid(tenantId, zeroSince, event.id);
    if (deleted > 0) this.runtime.logger.warn({ tenantId, deleted }, 'grace period at zero balance over: stopped pods deleted');
  }
}
