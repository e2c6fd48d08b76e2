import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put, Query } from '@nestjs/common';
import { RUNTIME, type VoltRuntime } from '@volt/platform';
import { PageQuerySchema } from '@volt/contracts';
import { AddMemberBodySchema, ApiKeyCreatedSchema, ApiKeyListSchema, ApiKeyRevokedSchema, ChangeMemberBodySchema, CreateApiKeyBodySchema, MemberListSchema, MemberRemovedSchema, MemberSchema, OrganizationSchema } from '@volt/identity-contracts';
import { findOrganization, listMembers, organizationView } from '@volt/identity-infra';
import { IdentityCommands, ApiKeysService } from '../api-keys/api-keys.service';
import { resourceIdFor } from '../commands';
import { Access } from '../http/access';
import { ApiException, parseWith } from '../http/api-error';
import { CurrentCaller, type Caller } from '../http/caller';
import { GATEWAY_LIMITS, type GatewayLimits } from '../gateway.config';
import { ApiDoc } from '../openapi/api-doc';

/**
 * Seed 001's /v1/orgs/{org_id}/api-keys and seed 004's organization and members.
 * `org_id` is the organization's id or slug; it must be the caller's own: any other
 * is the same 404 as one that does not exist.
 */
@Controller('v1/orgs/:org_id')
export class OrgsController {
  constructor(
    @Inject(RUNTIME) private readonly runtime: VoltRuntime,
    @Inject(GATEWAY_LIMITS) private readonly limits: GatewayLimits,
    private readonly keys: ApiKeysService,
    private readonly commands: IdentityCommands,
  ) {}

  private async own(caller: Caller, orgId: string) {
    const org = orgId.length <= 100 ? await findOrganization(this.runtime.db, orgId) : undefined;
    if (!org || org.orgId !== caller.tenantId) throw ApiException.of('NOT_FOUND', 'Organization not found.');
    return org;
  }

  @Get()
  @ApiDoc({ summary: 'Get your organization, its limits and members', response: OrganizationSchema })
  @Access({ scope: 'api-keys' })
  async get(@CurrentCaller() caller: Caller, @Param('org_id') orgId: string) {
    return organizationView(this.runtime.db, await this.own(caller, orgId), this.limits);
  }

  @Get('api-keys')
  @ApiDoc({ summary: 'List the organization’s API keys', query: PageQuerySchema, response: ApiKeyListSchema })
  @Access({ scope: 'api-keys', role: 'admin' })
  async listKeys(@CurrentCaller() caller: Caller, @Param('org_id') orgId: string, @Query() query: unknown) {
    await this.own(caller, orgId);
    return this.keys.list(caller, parseWith(PageQuerySchema, query, 'query'));
  }

  @Post('api-keys')
  @HttpCode(201)
  @ApiDoc({ summary: 'Create an organization API key', body: CreateApiKeyBodySchema, response: ApiKeyCreatedSchema })
  @Access({ scope: 'api-keys', role: 'admin' })
  async createKey(@CurrentCaller() caller: Caller, @Param('org_id') orgId: string, @Body() body: unknown) {
    await this.own(caller, orgId);
    return this.keys.create(caller, parseWith(CreateApiKeyBodySchema, body, 'body'));
  }

  @Delete('api-keys/:key_id')
  @ApiDoc({ summary: 'Revoke an organization API key', response: ApiKeyRevokedSchema })
  @Access({ scope: 'api-keys', role: 'admin' })
  async revokeKey(@CurrentCaller() caller: Caller, @Param('org_id') orgId: string, @Param('key_id') keyId: string) {
    await this.own(caller, orgId);
    return this.keys.revoke(caller, keyId);
  }

  @Get('members')
  @ApiDoc({ summary: 'List members', response: MemberListSchema })
  @Access({ scope: 'api-keys' })
  async members(@CurrentCaller() caller: Caller, @Param('org_id') orgId: string) {
    const members = await listMembers(this.runtime.db, (await this.own(caller, orgId)).orgId);
    return { members, total: members.length };
  }

  @Post('members')
  @HttpCode(201)
  @ApiDoc({ summary: 'Add a member', body: AddMemberBodySchema, response: MemberSchema })
  @Access({ scope: 'api-keys', role: 'admin' })
  async addMember(@CurrentCaller() caller: Caller, @Param('org_id') orgId: string, @Body() body: unknown) {
    await this.own(caller, orgId);
    const input = parseWith(AddMemberBodySchema, body, 'body');
    const events = await this.commands.run(caller, {
      type: 'AddMember',
      data: { memberId: resourceIdFor(caller, 'mem'), email: input.email, role: input.role, requesterRole: caller.role, requestedAt: new Date().toISOString() },
    });
    const added = events.find((e) => e.type === 'MemberAdded')!;
    return { id: added.data.memberId, email: added.data.email, role: added.data.role, added_at: added.data.addedAt };
  }

  @Put('members/:member_id')
  @ApiDoc({ summary: 'Change a member’s role', body: ChangeMemberBodySchema, response: MemberSchema })
  @Access({ scope: 'api-keys', role: 'admin' })
  async changeMember(@CurrentCaller() caller: Caller, @Param('org_id') orgId: string, @Param('member_id') memberId: string, @Body() body: unknown) {
    const org = await this.own(caller, orgId);
    const input = parseWith(ChangeMemberBodySchema, body, 'body');
    await this.commands.run(caller, { type: 'ChangeMemberRole', data: { memberId, role: input.role, requesterRole: caller.role, requestedAt: new Date().toISOString() } });
    const member = (await listMembers(this.runtime.db, org.orgId)).find((m) => m.id === memberId);
    if (!member) throw ApiException.of('NOT_FOUND', 'Member not found.');
    return member;
  }

  @Delete('members/:member_id')
  @ApiDoc({ summary: 'Remove a member', response: MemberRemovedSchema })
  @Access({ scope: 'api-keys', role: 'admin' })
  async removeMember(@CurrentCaller() caller: Caller, @Param('org_id') orgId: string, @Param('member_id') memberId: string) {
    await this.own(caller, orgId);
    await this.commands.run(caller, { type: 'RemoveMember', data: { memberId, requesterRole: caller.role, requestedAt: new Date().toISOString() } });
    return { id: memberId, deleted: true as const, message: 'Member removed from the organization.' };
  }
}
