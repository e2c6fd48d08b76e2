import { Inject } from '@nestjs/common';
import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import { MessageHandlers, type JetStreamContext } from '@volt/messaging';
import { CommandEnvelopeSchema, domainError, type CommandEnvelope, type CommandReply } from '@volt/contracts';
import { RUNTIME, type VoltRuntime } from '@volt/platform';
import { POD_LIFECYCLE } from './tokens';
import {
  PodLifecycle,
  handleAddDockerCredential,
  handleAddSshKey,
  handleCreateTemplate,
  handleDeleteTemplate,
  handleRemoveDockerCredential,
  handleRemoveSshKey,
  handleUpdateTemplate,
} from '@volt/pods-infra';

/** The pods service's command handlers. Each answers only once its read models show the change. */
@MessageHandlers()
export class PodsCommandsController {
  constructor(
    @Inject(RUNTIME) private readonly runtime: VoltRuntime,
    @Inject(POD_LIFECYCLE) private readonly pods: PodLifecycle,
  ) {}

  @MessagePattern('volt.cmd.pods.CreatePod')
  createPod(@Payload() message: unknown, @Ctx() context: JetStreamContext) {
    return this.handle(message, (c) => this.pods.create(c, { redelivered: context.getRedeliveries() > 0 }));
  }

  @MessagePattern('volt.cmd.pods.StartPod')
  startPod(@Payload() message: unknown, @Ctx() context: JetStreamContext) {
    return this.handle(message, (c) => this.pods.start(c, { redelivered: context.getRedeliveries() > 0 }));
  }

  @MessagePattern('volt.cmd.pods.StopPod')
  stopPod(@Payload() message: unknown) {
    return this.handle(message, (c) => this.pods.stop(c));
  }

  @MessagePattern('volt.cmd.pods.UpdatePod')
  updatePod(@Payload() message: unknown) {
    return this.handle(message, (c) => this.pods.update(c));
  }

  @MessagePattern('volt.cmd.pods.DeletePod')
  deletePod(@Payload() message: unknown) {
    return this.handle(message, (c) => this.pods.remove(c));
  }

  @MessagePattern('volt.cmd.pods.AddSshKey')
  addSshKey(@Payload() message: unknown) {
    return this.handle(message, (c) => handleAddSshKey(this.runtime.store, c as CommandEnvelope<never>));
  }

  @MessagePattern('volt.cmd.pods.RemoveSshKey')
  removeSshKey(@Payload() message: unknown) {
    return this.handle(message, (c) => handleRemoveSshKey(this.runtime.store, c as CommandEnvelope<never>));
  }

  @MessagePattern('volt.cmd.pods.CreateTemplate')
  createTemplate(@Payload() message: unknown) {
    return this.handle(message, (c) => handleCreateTemplate(this.runtime.store, c));
  }

  @MessagePattern('volt.cmd.pods.UpdateTemplate')
  updateTemplate(@Payload() message: unknown) {
    return this.handle(message, (c) => handleUpdateTemplate(this.runtime.store, c));
  }

  @MessagePattern('volt.cmd.pods.DeleteTemplate')
  deleteTemplate(@Payload() message: unknown) {
    return this.handle(message, (c) => handleDeleteTemplate(this.runtime.store, c));
  }

  @MessagePattern('volt.cmd.pods.AddDockerCredential')
  addDockerCredential(@Payload() message: unknown) {
    return this.handle(message, (c) => handleAddDockerCredential(this.runtime.db, this.runtime.store, c));
  }

  @MessagePattern('volt.cmd.pods.RemoveDockerCredential')
  removeDockerCredential(@Payload() message: unknown) {
    return this.handle(message, (c) => handleRemoveDockerCredential(this.runtime.db, this.runtime.store, c));
  }

  private async handle(message: unknown, run: (command: CommandEnvelope) => Promise<CommandReply>): Promise<CommandReply> {
    const parsed = CommandEnvelopeSchema.safeParse(message);
    // A malformed command is answered, not retried: redelivering it would never help.
    if (!parsed.success) return { ok: false, error: domainError('VALIDATION_ERROR', 'malformed command envelope') };
    let reply: CommandReply;
    try {
      reply = await run(parsed.data as CommandEnvelope);
    } catch (error) {
      // A payload that fails its command schema is the sender's bug: answer it, do not redeliver it.
      if ((error as Error).name === 'ZodError') return { ok: false, error: domainError('VALIDATION_ERROR', `malformed ${parsed.data.type} command`) };
      throw error;
    }
    // Read-your-writes: the caller's next read must already see this change, and a refusal may
    // still have recorded something (a failed pod) that it must see too.
    if (reply.checkpoint) await this.runtime.projections.waitFor(reply.checkpoint);
    return reply;
  }
}
