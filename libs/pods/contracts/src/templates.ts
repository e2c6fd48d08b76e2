import { z } from 'zod';
import { defineCommand, defineEvent } from '@volt/contracts';

const at = z.iso.datetime();

export const TemplateIdSchema = z.string().regex(/^tpl_[A-Za-z0-9_]{1,64}$/);
export const DockerCredentialIdSchema = z.string().regex(/^cred_[A-Za-z0-9]{1,64}$/);

/** A Docker image reference: [registry[:port]/]path[:tag][@digest]. */
export const ImageSchema = z
  .string()
  .trim()
  .min(1)
  .max(512)
  .regex(/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]{1,5})?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/, 'a Docker image reference such as pytorch/pytorch:2.1.0');
const Ports = z
  .array(z.number().int().min(1).max(65535))
  .max(20)
  .refine((p) => new Set(p).size === p.length, { message: 'ports must not repeat', params: { rule: 'unique' } });
/** The most bytes a template's environment variables take as JSON, together. */
export const ENV_VARS_MAX_BYTES = 64 * 1024;
const EnvVars = z
  .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'environment variable names are letters, digits and _'), z.string().max(4096))
  .refine((e) => Object.keys(e).length <= 100, { message: 'at most 100 environment variables', params: { rule: 'max_entries' } })
  // What a container's environment holds in practice, and what keeps a template's event small.
  .refine((e) => new TextEncoder().encode(JSON.stringify(e)).length <= ENV_VARS_MAX_BYTES, { message: `environment variables take at most ${ENV_VARS_MAX_BYTES / 1024} KiB in all`, params: { rule: 'max_bytes' } });
const Name = z.string().trim().min(1).max(100);
const Category = z.string().trim().min(1).max(50).regex(/^[a-z0-9-]+$/, 'lowercase letters, digits and hyphens');
const Description = z.string().max(1000);

/** POST /api/volt/templates (seed 000). Unknown fields (is_system, id, …) are refused. */
export const CreateTemplateBodySchema = z
  .strictObject({
    name: Name,
    image: ImageSchema,
    category: Category.default('custom'),
    description: Description.default(''),
    docker_credential_id: DockerCredentialIdSchema.optional(),
    ports: Ports.default([]),
    env_vars: EnvVars.default({}),
  })
  .meta({ id: 'CreateTemplateRequest' });
export type CreateTemplateBody = z.infer<typeof CreateTemplateBodySchema>;

/** PUT /api/volt/templates/:id: the fields given replace the old ones; `docker_credential_id: null` removes it. */
export const UpdateTemplateBodySchema = z
  .strictObject({
    name: Name.optional(),
    image: ImageSchema.optional(),
    category: Category.optional(),
    description: Description.optional(),
    docker_credential_id: DockerCredentialIdSchema.nullable().optional(),
    ports: Ports.optional(),
    env_vars: EnvVars.optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: 'give at least one field to change', params: { rule: 'non_empty' } })
  .meta({ id: 'UpdateTemplateRequest' });
export type UpdateTemplateBody = z.infer<typeof UpdateTemplateBodySchema>;

export const TemplateSummarySchema = z
  .object({ id: z.string(), name: z.string(), image: z.string(), category: z.string(), is_system: z.boolean(), description: z.string(), created_at: z.string() })
  .meta({ id: 'TemplateSummary' });
export const TemplateSchema = TemplateSummarySchema.extend({
  docker_credential_id: z.string().nullable(),
  ports: z.array(z.number().int()),
  env_vars: z.record(z.string(), z.string()),
}).meta({ id: 'Template' });
export type Template = z.infer<typeof TemplateSchema>;
export type TemplateSummary = z.infer<typeof TemplateSummarySchema>;
export const TemplateListSchema = z.object({ templates: z.array(TemplateSummarySchema), total: z.number().int() }).meta({ id: 'TemplateList' });
export const TemplateUpdatedSchema = z
  .object({ id: z.string(), name: z.string(), image: z.string(), category: z.string(), is_system: z.boolean(), message: z.string() })
  .meta({ id: 'TemplateUpdatedResponse' });
export const TemplateDeletedSchema = z.object({ id: z.string(), deleted: z.literal(true), message: z.string() }).meta({ id: 'TemplateDeletedResponse' });

const TemplateFields = z.object({
  name: z.string(),
  image: z.string(),
  category: z.string(),
  description: z.string(),
  dockerCredentialId: z.string().nullable(),
  ports: z.array(z.number().int()),
  envVars: z.record(z.string(), z.string()),
});

export const TemplateCreated = defineEvent('pods', 'TemplateCreated', TemplateFields.extend({ templateId: z.string(), isSystem: z.boolean(), createdAt: at }));
/** Carries only what changed. Pods keep the image they were deployed with. */
export const TemplateUpdated = defineEvent('pods', 'TemplateUpdated', TemplateFields.partial().extend({ templateId: z.string(), updatedAt: at }));
export const TemplateDeleted = defineEvent('pods', 'TemplateDeleted', z.object({ templateId: z.string(), deletedAt: at }));

export const CreateTemplate = defineCommand('pods', 'CreateTemplate', TemplateFields.extend({ templateId: TemplateIdSchema, isSystem: z.boolean(), requestedAt: at }));
export const UpdateTemplate = defineCommand('pods', 'UpdateTemplate', TemplateFields.partial().extend({ templateId: z.string(), requestedAt: at }));
export const DeleteTemplate = defineCommand('pods', 'DeleteTemplate', z.object({ templateId: z.string(), requestedAt: at }));

/** The stream holding one organization's templates and registry credentials; `system` holds Volt's own templates. */
export const templatesStream = (tenantId: string | null) => `pods:templates:${tenantId ?? 'system'}`;

/** Templates every organization sees, seeded at start-up; they cannot be changed or deleted. */
export const SYSTEM_TEMPLATES = [
  { templateId: 'tpl_pytorch21', name: 'PyTorch 2.1 CUDA 12.1', image: 'pytorch/pytorch:2.1.0-cuda12.1-cudnn8-devel', category: 'machine-learning', description: 'Official PyTorch image with CUDA 12.1 and cuDNN 8' },
  { templateId: 'tpl_pytorch25', name: 'PyTorch 2.5 CUDA 12.4', image: 'pytorch/pytorch:2.5.1-cuda12.4-cudnn9-devel', category: 'machine-learning', description: 'Official PyTorch image with CUDA 12.4 and cuDNN 9' },
  { templateId: 'tpl_tensorflow215', name: 'TensorFlow 2.15 GPU', image: 'tensorflow/tensorflow:2.15.0-gpu', category: 'machine-learning', description: 'Official TensorFlow image with GPU support' },
  { templateId: 'tpl_vllm', name: 'vLLM OpenAI server', image: 'vllm/vllm-openai:v0.6.3', category: 'inference', description: 'vLLM serving an OpenAI-compatible API on port 8000' },
  { templateId: 'tpl_ubuntu2204_cuda', name: 'Ubuntu 22.04 CUDA 12.4', image: 'nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04', category: 'base', description: 'Bare CUDA development image' },
] as const;
export const SYSTEM_TEMPLATE_IDS: ReadonlySet<string> = new Set(SYSTEM_TEMPLATES.map((t) => t.templateId));
