import { Body, Controller, Delete, Get, HttpCode, Post, Query } from '@nestjs/common';
import { PageQuerySchema } from '@volt/contracts';
import { ApiKeyCreatedSchema, ApiKeyListSchema, ApiKeyRevokedSchema, CreateApiKeyBodySchema, RevokeApiKeyBodySchema } from '@volt/identity-contracts';
import { Access } from '../http/access';
import { parseWith } from '../http/api-error';
import { CurrentCaller, type Caller } from '../http/caller';
import { ApiKeysService } from './api-keys.service';
import { ApiDoc } from '../openapi/api-doc';

/** Seed 000: /api/volt/api-keys. Managing keys takes an admin key. */
@Controller('api/volt/api-keys')
export class ApiKeysController {
  constructor(private readonly keys: ApiKeysService) {}

  @Get()
  @ApiDoc({ summary: 'List API keys (key values redacted)', query: PageQuerySchema, response: ApiKeyListSchema })
  @Access({ scope: 'api-keys', role: 'admin' })
  list(@CurrentCaller() caller: Caller, @Query() query: unknown) {
    return this.keys.list(caller, parseWith(PageQuerySchema, query, 'query'));
  }

  @Post()
  @HttpCode(201)
  @ApiDoc({ summary: 'Create an API key; the full key is returned only once', body: CreateApiKeyBodySchema, response: ApiKeyCreatedSchema })
  @Access({ scope: 'api-keys', role: 'admin' })
  create(@CurrentCaller() caller: Caller, @Body() body: unknown) {
    return this.keys.create(caller, parseWith(CreateApiKeyBodySchema, body, 'body'));
  }

  @Delete()
  @ApiDoc({ summary: 'Revoke an API key by id', body: RevokeApiKeyBodySchema, response: ApiKeyRevokedSchema })
  @Access({ scope: 'api-keys', role: 'admin' })
  revoke(@CurrentCaller() caller: Caller, @Body() body: unknown) {
    return this.keys.revoke(caller, parseWith(RevokeApiKeyBodySchema, body, 'body').key_id);
  }
}
