import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put, Query } from '@nestjs/common';
import { PageQuerySchema } from '@volt/contracts';
import { RUNTIME, type VoltRuntime } from '@volt/platform';
import { CreateTemplateBodySchema, type Template, TemplateDeletedSchema, TemplateIdSchema, TemplateListSchema, TemplateSchema, TemplateUpdatedSchema, UpdateTemplateBodySchema } from '@volt/pods-contracts';
import { findTemplate, listTemplates } from '@volt/pods-infra';
import { resourceIdFor, sendCommand } from '../commands';
import { ReadCache } from '../read-cache';
import { Access } from '../http/access';
import { ApiException, parseWith } from '../http/api-error';
import { CurrentCaller, type Caller } from '../http/caller';
import { ApiDoc } from '../openapi/api-doc';

/** Seed 000: /api/volt/templates. System templates are visible to all and changeable by none. */
@Controller('api/volt/templates')
export class TemplatesController {
  constructor(
    @Inject(RUNTIME) private readonly runtime: VoltRuntime,
    private readonly cache: ReadCache,
  ) {}

  private async visible(caller: Caller, id: string): Promise<Template> {
    const template = TemplateIdSchema.safeParse(id).success
      ? await this.cache.get('templates', caller.tenantId, `id:${id}`, () => findTemplate(this.runtime.db, caller.tenantId, id))
      : undefined;
    if (!template) throw ApiException.of('NOT_FOUND', 'Template not found.');
    return template;
  }

  @Get()
  @ApiDoc({ summary: 'List system and custom templates', query: PageQuerySchema, response: TemplateListSchema })
  @Access({ scope: 'templates' })
  list(@CurrentCaller() caller: Caller, @Query() query: unknown) {
    const page = parseWith(PageQuerySchema, query, 'query');
    return this.cache.get('templates', caller.tenantId, `${page.limit}:${page.offset}`, () => listTemplates(this.runtime.db, caller.tenantId, page));
  }

  @Get(':id')
  @ApiDoc({ summary: 'Get a template with its env vars and ports', response: TemplateSchema })
  @Access({ scope: 'templates' })
  get(@CurrentCaller() caller: Caller, @Param('id') id: string) {
    return this.visible(caller, id);
  }

  @Post()
  @HttpCode(201)
  @ApiDoc({ summary: 'Create a custom template', body: CreateTemplateBodySchema, response: TemplateSchema })
  @Access({ scope: 'templates' })
  async create(@CurrentCaller() caller: Caller, @Body() body: unknown): Promise<Template> {
    const input = parseWith(CreateTemplateBodySchema, body, 'body');
    const { templateId } = await this.cache.changing('templates', caller.tenantId, () => sendCommand<{ templateId: string }>(this.runtime, caller, 'pods', 'CreateTemplate', {
      templateId: resourceIdFor(caller, 'tpl'),
      name: input.name,
      image: input.image,
      category: input.category,
      description: input.description,
      dockerCredentialId: input.docker_credential_id ?? null,
      ports: input.ports,
      envVars: input.env_vars,
      isSystem: false,
      requestedAt: new Date().toISOString(),
    }));
    return this.visible(caller, templateId);
  }

  @Put(':id')
  @ApiDoc({ summary: 'Update a custom template; existing pods are not affected', body: UpdateTemplateBodySchema, response: TemplateUpdatedSchema })
  @Access({ scope: 'templates' })
  async update(@CurrentCaller() caller: Caller, @Param('id') id: string, @Body() body: unknown) {
    const existing = await this.visible(caller, id);
    const input = parseWith(UpdateTemplateBodySchema, body, 'body');
    const changes = {
      name: input.name,
      image: input.image,
      category: input.category,
      description: input.description,
      dockerCredentialId: input.docker_credential_id,
      ports: input.ports,
      envVars: input.env_vars,
    };
    await this.cache.changing('templates', caller.tenantId, () => sendCommand(this.runtime, caller, 'pods', 'UpdateTemplate', {
      ...Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined)),
      templateId: existing.id,
      requestedAt: new Date().toISOString(),
    }));
    const t = await this.visible(caller, id);
    return { id: t.id, name: t.name, image: t.image, category: t.category, is_system: t.is_system, message: 'Template updated. Existing pods are not affected.' };
  }

  @Delete(':id')
  @ApiDoc({ summary: 'Delete a custom template', response: TemplateDeletedSchema })
  @Access({ scope: 'templates' })
  async remove(@CurrentCaller() caller: Caller, @Param('id') id: string) {
    const existing = await this.visible(caller, id);
    return this.cache.changing('templates', caller.tenantId, () => sendCommand(this.runtime, caller, 'pods', 'DeleteTemplate', { templateId: existing.id, requestedAt: new Date().toISOString() }));
  }
}
