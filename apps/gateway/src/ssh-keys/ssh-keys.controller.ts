import { randomBytes } from 'node:crypto';
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, UseGuards } from '@nestjs/common';
import { RUNTIME, type VoltRuntime } from '@volt/platform';
import { CreateSshKeyBodySchema, SshKeyIdSchema, type SshKey } from '@volt/pods-contracts';
import { listSshKeys } from '@volt/pods-infra';
import { sendCommand } from '../commands';
import { ApiException, parseWith } from '../http/api-error';
import { BootstrapKeyGuard } from '../http/bootstrap-key.guard';
import { CurrentCaller, type Caller } from '../http/caller';

const newKeyId = () => `key_${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x')}`;

/** Seed 000: /api/volt/ssh-keys. */
@Controller('api/volt/ssh-keys')
@UseGuards(BootstrapKeyGuard)
export class SshKeysController {
  constructor(@Inject(RUNTIME) private readonly runtime: VoltRuntime) {}

  @Get()
  async list(@CurrentCaller() caller: Caller): Promise<{ ssh_keys: SshKey[]; total: number }> {
    const keys = await listSshKeys(this.runtime.db, caller.tenantId);
    return { ssh_keys: keys, total: keys.length };
  }

  @Post()
  @HttpCode(201)
  async create(@CurrentCaller() caller: Caller, @Body() body: unknown): Promise<SshKey> {
    const input = parseWith(CreateSshKeyBodySchema, body, 'body');
    return sendCommand<SshKey>(this.runtime, caller, 'pods', 'AddSshKey', {
      keyId: newKeyId(),
      name: input.name,
      publicKey: input.public_key,
      requestedAt: new Date().toISOString(),
    });
  }

  @Delete(':id')
  async remove(@CurrentCaller() caller: Caller, @Param('id') id: string): Promise<{ id: string; deleted: true; message: string }> {
    // Ids of another shape cannot exist: the same 404 as any unknown key.
    if (!SshKeyIdSchema.safeParse(id).success) throw ApiException.of('NOT_FOUND', 'SSH key not found.');
    return sendCommand(this.runtime, caller, 'pods', 'RemoveSshKey', { keyId: id, requestedAt: new Date().toISOString() });
  }
}
