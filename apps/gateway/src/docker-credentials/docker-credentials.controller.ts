import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Query } from '@nestjs/common';
import { PageQuerySchema } from '@volt/contracts';
import { RUNTIME, type VoltRuntime } from '@volt/platform';
import { CreateDockerCredentialBodySchema, type DockerCredential, DockerCredentialDeletedSchema, DockerCredentialIdSchema, DockerCredentialListSchema, DockerCredentialSchema, dockerSecretAad } from '@volt/pods-contracts';
import { findDockerCredential, listDockerCredentials } from '@volt/pods-infra';
import type { Keyring } from '@volt/secrets';
import { resourceIdFor, sendCommand } from '../commands';
import { ReadCache } from '../read-cache';
import { SECRETS_KEYRING } from '../gateway.config';
import { Access } from '../http/access';
import { ApiException, parseWith } from '../http/api-error';
import { CurrentCaller, type Caller } from '../http/caller';
import { ApiDoc } from '../openapi/api-doc';

/**
 * Seed 000: /api/volt/docker-credentials. The password is sealed (AES-256-GCM) here, at
 * the edge, so it crosses the bus and reaches the database only as ciphertext; no
 * response, event or log ever carries it.
 */
@Controller('api/volt/docker-credentials')
export class DockerCredentialsController {
  constructor(
    @Inject(RUNTIME) private readonly runtime: VoltRuntime,
    @Inject(SECRETS_KEYRING) private readonly keyring: Keyring,
    private readonly cache: ReadCache,
  ) {}

  @Get()
  @ApiDoc({ summary: 'List registry credentials (passwords never returned)', query: PageQuerySchema, response: DockerCredentialListSchema })
  @Access({ scope: 'docker-credentials' })
  list(@CurrentCaller() caller: Caller, @Query() query: unknown) {
    const page = parseWith(PageQuerySchema, query, 'query');
    return this.cache.get('docker-credentials', caller.tenantId, `${page.limit}:${page.offset}`, () => listDockerCredentials(this.runtime.db, caller.tenantId, page));
  }

  @Get(':id')
  @ApiDoc({ summary: 'Get a registry credential (password never returned)', response: DockerCredentialSchema })
  @Access({ scope: 'docker-credentials' })
  async get(@CurrentCaller() caller: Caller, @Param('id') id: string): Promise<DockerCredential> {
    const found = DockerCredentialIdSchema.safeParse(id).success
      ? await this.cache.get('docker-credentials', caller.tenantId, `id:${id}`, () => findDockerCredential(this.runtime.db, caller.tenantId, id))
      : undefined;
    if (!found) throw ApiException.of('NOT_FOUND', 'Docker credential not found.');
    return found;
  }

  @Post()
  @HttpCode(201)
  @ApiDoc({ summary: 'Store a private registry credential', body: CreateDockerCredentialBodySchema, response: DockerCredentialSchema })
  @Access({ scope: 'docker-credentials' })
  create(@CurrentCaller() caller: Caller, @Body() body: unknown): Promise<DockerCredential> {
    const input = parseWith(CreateDockerCredentialBodySchema, body, 'body');
    const credentialId = resourceIdFor(caller, 'cred');
    return this.cache.changing('docker-credentials', caller.tenantId, () => sendCommand<DockerCredential>(this.runtime, caller, 'pods', 'AddDockerCredential', {
      credentialId,
      name: input.name,
      registry: input.registry,
      username: input.username,
      password: this.keyring.seal(input.password, dockerSecretAad(caller.tenantId, credentialId)),
      requestedAt: new Date().toISOString(),
    }));
  }

  @Delete(':id')
  @ApiDoc({ summary: 'Delete a registry credential', response: DockerCredentialDeletedSchema })
  @Access({ scope: 'docker-credentials' })
  remove(@CurrentCaller() caller: Caller, @Param('id') id: string) {
    if (!DockerCredentialIdSchema.safeParse(id).success) throw ApiException.of('NOT_FOUND', 'Docker credential not found.');
    return this.cache.changing('docker-credentials', caller.tenantId, () =>
      sendCommand(this.runtime, caller, 'pods', 'RemoveDockerCredential', { credentialId: id, requestedAt: new Date().toISOString() }),
    );
  }
}
