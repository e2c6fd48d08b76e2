import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { CommandEnvelopeSchema, domainError, type CommandEnvelope, type CommandReply } from '@volt/contracts';
import { RUNTIME, type VoltRuntime } from '@volt/platform';
import { handleAddSshKey, handleRemoveSshKey } from '@volt/pods-infra';

/** The pods service's command handlers. Each answers only once its read models show the change. */
@Controller()
export class PodsCommandsController {
  constructor(@Inject(RUNTIME) private readonly runtime: VoltRuntime) {}

  @MessagePattern('volt.cmd.pods.AddSshKey')
  addSshKey(@Payload() message: unknown): Promise<CommandReply> {
    return this.handle(message, (command) => handleAddSshKey(this.runtime.store, command as CommandEnvelope<never>));
  }

  @MessagePattern('volt.cmd.pods.RemoveSshKey')
  removeSshKey(@Payload() message: unknown): Promise<CommandReply> {
    return this.handle(message, (command) => handleRemoveSshKey(this.runtime.store, command as CommandEnvelope<never>));
  }

  private async handle(message: unknown, run: (command: CommandEnvelope) => Promise<CommandReply>): Promise<CommandReply> {
    const parsed = CommandEnvelopeSchema.safeParse(message);
    // A malformed command is answered, not retried: redelivering it would never help.
    if (!parsed.success) return { ok: false, error: domainError('VALIDATION_ERROR', 'malformed command envelope') };
    const reply = await run(parsed.data as CommandEnvelope);
    if (reply.ok && reply.checkpoint) {
      this.runtime.relay?.nudge();
      // Read-your-writes: the caller's next read must already see this change.
      await this.runtime.projections.waitFor(reply.checkpoint);
    }
    return reply;
  }
}
