import { Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { MessageHandlers } from '@volt/messaging';
import { CommandEnvelopeSchema, domainError, type CommandEnvelope, type CommandReply } from '@volt/contracts';
import { checkpointOf, uuidFromName } from '@volt/event-store';
import { PlaceHold, RedeemVoucher, ReleaseHold, SYSTEM_ACCOUNTS, customerAccount, microsToUsd, type LedgerOutcome } from '@volt/ledger-contracts';
import { redeemVoucher, type Ledger } from '@volt/ledger-infra';
import { RUNTIME, type VoltRuntime } from '@volt/platform';
import type { z } from 'zod';
import { LEDGER } from './tokens';

/** A refusal as the API says it. Holds and releases carry no fence, so they are never SUPERSEDED; were one, it would be a conflict. */
const refusal = (outcome: Extract<LedgerOutcome, { ok: false }>) => domainError(outcome.code === 'SUPERSEDED' ? 'CONFLICT' : outcome.code, outcome.message);

/** The ledger service's command handlers; each answers once the balance read models show its effect. */
@MessageHandlers()
export class LedgerCommandsController {
  constructor(
    @Inject(RUNTIME) private readonly runtime: VoltRuntime,
    @Inject(LEDGER) private readonly ledger: Ledger,
  ) {}

  @MessagePattern('volt.cmd.ledger.RedeemVoucher')
  redeem(@Payload() message: unknown): Promise<CommandReply> {
    return this.handle(message, RedeemVoucher.schema, async (data, tenantId) => {
      const outcome = await redeemVoucher(this.runtime.db, this.ledger, tenantId, data.code);
      if (!outcome.ok) return { ok: false, error: refusal(outcome) };
      await this.visible(outcome.transferId);
      const text = outcome.duplicate ? 'This voucher was already redeemed for your organization.' : `Voucher redeemed: ${outcome.amount.toFixed(2)} USD added to your balance.`;
      return { ok: true, result: { code: data.code.trim().toUpperCase(), amount: outcome.amount, currency: 'USD', message: text } };
    });
  }

  @MessagePattern('volt.cmd.ledger.PlaceHold')
  placeHold(@Payload() message: unknown): Promise<CommandReply> {
    return this.handle(message, PlaceHold.schema, async (data, tenantId, envelope) => {
      const outcome = await this.ledger.hold(
        { id: data.holdId, debit: customerAccount(tenantId), credit: SYSTEM_ACCOUNTS.revenue, amount: data.amount, expiresAt: data.expiresAt, resource: data.resource, description: data.description },
        { actor: envelope.actor, correlationId: envelope.correlationId, causationId: envelope.id },
      );
      if (outcome.ok) return { ok: true, result: { holdId: data.holdId } };
      if (outcome.code !== 'INSUFFICIENT_BALANCE') return { ok: false, error: refusal(outcome) };
      const available = (await this.ledger.account(customerAccount(tenantId))).available;
      const message = `Insufficient balance: this needs ${microsToUsd(data.amount).toFixed(2)} USD for its first hour and ${microsToUsd(available).toFixed(2)} USD is available. Add funds and retry.`;
      return { ok: false, error: domainError('INSUFFICIENT_BALANCE', message) };
    });
  }

  @MessagePattern('volt.cmd.ledger.ReleaseHold')
  releaseHold(@Payload() message: unknown): Promise<CommandReply> {
    return this.handle(message, ReleaseHold.schema, async (data) => {
      const outcome = await this.ledger.release({ id: `release:${data.holdId}`, holdId: data.holdId });
      // Unknown or already closed: there is nothing to give back, which is what was asked.
      if (outcome.ok || outcome.code === 'NOT_FOUND' || outcome.code === 'CONFLICT') return { ok: true, result: { holdId: data.holdId } };
      return { ok: false, error: refusal(outcome) };
    });
  }

  private async handle<S extends z.ZodType>(
    message: unknown,
    schema: S,
    run: (data: z.infer<S>, tenantId: string, envelope: CommandEnvelope) => Promise<CommandReply>,
  ): Promise<CommandReply> {
    const envelope = CommandEnvelopeSchema.safeParse(message);
    const data = envelope.success ? schema.safeParse(envelope.data.data) : undefined;
    if (!envelope.success || !data?.success || !envelope.data.tenantId) return { ok: false, error: domainError('VALIDATION_ERROR', 'malformed ledger command') };
    const reply = await run(data.data, envelope.data.tenantId, envelope.data as CommandEnvelope);
    // The ledger appends inside its own transactions, not through the event store.
    if (reply.ok) this.runtime.appended();
    return reply;
  }

  /** Read-your-writes: waits until the read models have applied the transfer's event. */
  private async visible(transferId: string): Promise<void> {
    const [event] = await this.runtime.store.readEvents([uuidFromName(`ledger:${transferId}`)]);
    if (event) await this.runtime.projections.waitFor(checkpointOf(event));
  }
}
