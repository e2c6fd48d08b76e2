import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { PageQuerySchema } from '@volt/contracts';
import { RUNTIME, type VoltRuntime } from '@volt/platform';
import { CreateSshKeyBodySchema, type SshKey, SshKeyDeletedSchema, SshKeyIdSchema, SshKeyListSchema, SshKeySchema } from '@volt/pods-contracts';
import { listSshKeys } from '@volt/pods-infra';
import { resourceIdFor, sendCommand } from '../commands';
import { ReadCache } from '../read-cache';
import { Access } from '../http/access';
import { ApiException, parseWith } from '../http/api-error';
import { CurrentCaller, type Caller } from '../http/caller';
import { ApiDoc } from '../openapi/api-doc';

/** Seed 000: /api/volt/ssh-keys. */
@Controller('api/volt/ssh-keys')
export class SshKeysController {
  constructor(
    @Inject(RUNTIME) private readonly runtime: VoltRuntime,
    private readonly cache: ReadCache,
  ) {}

  @Get()
  @ApiDoc({ summary: 'List SSH keys', query: PageQuerySchema, response: SshKeyListSchema })
  @Access({ scope: 'ssh-keys' })
  async list(@CurrentCaller() caller: Caller, @Query() query: unknown): Promise<{ ssh_keys: SshKey[]; total: number }> {
    const page = parseWith(PageQuerySchema, query, 'query');
    return this.cache.get('ssh-keys', caller.tenantId, `${page.limit}:${page.offset}`, async () => {
      const { keys, total } = await listSshKeys(this.runtime.db, caller.tenantId, page);
      return { ssh_keys: keys, total };
    });
  }

  @Post()
  @HttpCode(201)
  @ApiDoc({ summary: 'Add an SSH public key', body: CreateSshKeyBodySchema, response: SshKeySchema })
  @Access({ scope: 'ssh-keys' })
  async create(@CurrentCaller() caller: Caller, @Body() body: unknown): Promise<SshKey> {
    const input = parseWith(CreateSshKeyBodySchema, body, 'body');
    return this.cache.changing('ssh-keys', caller.tenantId, () =>
      sendCommand<SshKey>(this.runtime, caller, 'pods', 'AddSshKey', {
        keyId: resourceIdFor(caller, 'key'),
        name: input.name,
        publicKey: input.public_key,
        requestedAt: new Date().toISOString(),
      }),
    );
  }

  @Delete(':id')
  @ApiDoc({ summary: 'Remove an SSH key from the account; running pods keep it until redeployed', response: SshKeyDeletedSchema })
  @Access({ scope: 'ssh-keys' })
  async remove(@CurrentCaller() caller: Caller, @Param('id') id: string): Promise<{ id: string; deleted: true; message: string }> {
    // Ids of another shape cannot exist: the same 404 as any unknown key.
    if (!SshKeyIdSchema.safeParse(id).success) throw ApiException.of('NOT_FOUND', 'SSH key not found.');
    return this.cache.changing('ssh-keys', caller.tenantId, () =>
      sendCommand(this.runtime, caller, 'pods', 'RemoveSshKey', { keyId: id, requestedAt: new Date().toISOString() }),
    );
  }
}
