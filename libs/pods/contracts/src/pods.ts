import { z } from 'zod';
import { defineCommand, defineEvent, PageQuerySchema } from '@volt/contracts';
import { ImageSchema, TemplateIdSchema } from './templates';
import { SshKeyIdSchema } from './ssh-keys';

const at = z.iso.datetime();

export const PodIdSchema = z.string().regex(/^pod_[A-Za-z0-9]{1,64}$/);
export const PROVIDERS = ['lium', 'targon'] as const;
export const ProviderNameSchema = z.enum(PROVIDERS);
export type ProviderName = z.infer<typeof ProviderNameSchema>;
export const TARGON_RESOURCES = ['h200-small', 'h200-large', 'b200-small', 'b200-large'] as const;

/** Seed 000 and 002's statuses. Terminal ones are shown only once they are true at the provider. */
export const POD_STATUSES = ['deploying', 'running', 'stopping', 'stopped', 'starting', 'deleting', 'deleted', 'failed', 'terminated-provider'] as const;
export const PodStatusSchema = z.enum(POD_STATUSES);
export type PodStatus = z.infer<typeof PodStatusSchema>;
export const TERMINAL_STATUSES: readonly PodStatus[] = ['deleted', 'failed', 'terminated-provider'];

/** Why a pod failed or was terminated by its provider; each comes with a message a person can act on. */
export const POD_REASONS = [
  'provider_error',
  'provisioning_timeout',
  'spot_reclaimed',
  'stale_inventory',
  'attestation_failed',
  'insufficient_balance',
  'instance_lost',
  'provider_stopped',
] as const;
export const PodReasonSchema = z.enum(POD_REASONS);
export type PodReason = z.infer<typeof PodReasonSchema>;

const Name = z.string().trim().min(1).max(100);
const SshKeyIds = z
  .array(SshKeyIdSchema)
  .max(20)
  .refine((k) => new Set(k).size === k.length, { message: 'ssh_key_ids must not repeat', params: { rule: 'unique' } });
const GpuCount = z.number().int().min(1).max(8);
const VolumeSize = z.number().int().min(10).max(10_000);

/** POST /api/volt/pods, Lium form (seed 000). */
export const CreateLiumPodBodySchema = z
  .strictObject({
    // Any provider but targon's is read as this form: its error names both.
    provider: z.literal('lium', { error: 'expected "lium" (the default) or "targon"' }).optional(),
    name: Name.optional(),
    machine_id: z.string().regex(/^mach_[A-Za-z0-9_]{1,64}$/, 'a machine id from GET /api/volt/machines'),
    template_id: TemplateIdSchema,
    ssh_key_ids: SshKeyIds.default([]),
    gpu_count: GpuCount.default(1),
    volume_size_gb: VolumeSize.default(50),
  })
  .meta({ id: 'CreateLiumPodRequest' });

/** POST /api/volt/pods, Targon confidential form (seed 000). `cost_per_hour` is the most the caller accepts. */
export const CreateTargonPodBodySchema = z
  .strictObject({
    provider: z.literal('targon'),
    name: Name.optional(),
    resource_name: z.enum(TARGON_RESOURCES),
    image: ImageSchema,
    cost_per_hour: z.number().positive().max(10_000),
    ssh_key_ids: SshKeyIds.default([]),
  })
  .meta({ id: 'CreateTargonPodRequest' });

export const CreatePodBodySchema = z
  .union([CreateTargonPodBodySchema, CreateLiumPodBodySchema])
  .meta({ id: 'CreatePodRequest' });
export type CreatePodBody = z.infer<typeof CreatePodBodySchema>;

/** PUT /api/volt/pods/:id: name and SSH keys any time; hardware only while stopped. */
export const UpdatePodBodySchema = z
  .strictObject({ name: Name.optional(), ssh_key_ids: SshKeyIds.optional(), volume_size_gb: VolumeSize.optional(), gpu_count: GpuCount.optional() })
  .refine((b) => Object.keys(b).length > 0, { message: 'give at least one field to change', params: { rule: 'non_empty' } })
  .meta({ id: 'UpdatePodRequest' });

/** GET /api/volt/pods: seed 002's status filter (`active`, `inactive` or one status). */
export const PodListQuerySchema = PageQuerySchema.extend({
  // One enum, so that a wrong value is answered with the values it could have been.
  status: z.enum(['active', 'inactive', ...PodStatusSchema.options]).optional(),
});

export const PodSummarySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    status: PodStatusSchema,
    provider: ProviderNameSchema,
    gpu_type: z.string(),
    gpu_count: z.number().int(),
    cost_per_hour: z.number(),
    created_at: z.string(),
    ip: z.string().nullable(),
    ssh_port: z.number().int().nullable(),
    reason: PodReasonSchema.nullable(),
    status_message: z.string().nullable(),
  })
  .meta({ id: 'PodSummary' });
export type PodSummary = z.infer<typeof PodSummarySchema>;
export const PodListSchema = z.object({ pods: z.array(PodSummarySchema), total: z.number().int() }).meta({ id: 'PodList' });

export const PodSchema = PodSummarySchema.extend({
  machine_id: z.string(),
  cpu_cores: z.number().int(),
  ram_gb: z.number().int(),
  template: z.string(),
  image: z.string(),
  template_id: z.string().nullable(),
  resource_name: z.string().nullable(),
  volume_size_gb: z.number().int(),
  ssh_keys: z.array(z.string()),
  instance_type: z.enum(['dedicated', 'spot']),
  location: z.string(),
  confidential: z.boolean(),
  attestation: z.literal('intel_tdx').nullable(),
  uptime_hours: z.number(),
  total_cost: z.number(),
}).meta({ id: 'Pod' });
export type Pod = z.infer<typeof PodSchema>;

export const PodActionSchema = z.object({ id: z.string(), status: PodStatusSchema, message: z.string() }).meta({ id: 'PodActionResponse' });
export const PodUpdatedSchema = z
  .object({ id: z.string(), name: z.string(), status: PodStatusSchema, ssh_keys: z.array(z.string()), volume_size_gb: z.number().int(), gpu_count: z.number().int(), message: z.string() })
  .meta({ id: 'PodUpdatedResponse' });
/** Seed 002's can-terminate, in its own camelCase; times in minutes. */
export const CanTerminateSchema = z
  .object({ canTerminate: z.boolean(), runtime: z.number().int(), timeRemaining: z.number().int(), minimumRuntime: z.number().int() })
  .meta({ id: 'CanTerminateResponse' });

// ---- commands (gateway → pods) ----

export const CreatePod = defineCommand(
  'pods',
  'CreatePod',
  z.object({
    podId: PodIdSchema,
    name: z.string(),
    provider: ProviderNameSchema,
    machineId: z.string().nullable(),
    resourceName: z.string().nullable(),
    templateId: z.string().nullable(),
    image: z.string().nullable(),
    maxCostPerHour: z.number().nullable(),
    sshKeyIds: z.array(z.string()),
    gpuCount: z.number().int(),
    volumeSizeGb: z.number().int(),
    requestedAt: at,
  }),
);
const PodRef = z.object({ podId: PodIdSchema, requestedAt: at });
export const StartPod = defineCommand('pods', 'StartPod', PodRef);
export const StopPod = defineCommand('pods', 'StopPod', PodRef);
export const DeletePod = defineCommand('pods', 'DeletePod', PodRef);
export const UpdatePod = defineCommand(
  'pods',
  'UpdatePod',
  PodRef.extend({ name: z.string().optional(), sshKeyIds: z.array(z.string()).optional(), volumeSizeGb: z.number().int().optional(), gpuCount: z.number().int().optional() }),
);

// ---- events (stream pods:pod:<podId>) ----

/** What the customer asked for, with the offer as it stood at launch: the pod keeps this rate. */
export const PodRequested = defineEvent(
  'pods',
  'PodRequested',
  z.object({
    podId: z.string(),
    name: z.string(),
    provider: ProviderNameSchema,
    machineId: z.string(),
    offerId: z.string(),
    resourceName: z.string().nullable(),
    gpuType: z.string(),
    gpuCount: z.number().int(),
    cpuCores: z.number().int(),
    ramGb: z.number().int(),
    location: z.string(),
    instanceType: z.enum(['dedicated', 'spot']),
    minimumRuntimeMinutes: z.number().int(),
    pricePerGpuHour: z.number(),
    costPerHour: z.number(),
    volumeSizeGb: z.number().int(),
    templateId: z.string().nullable(),
    image: z.string(),
    sshKeyIds: z.array(z.string()),
    confidential: z.boolean(),
    /** The ledger hold that reserves the first hour (released when the pod stops or ends). */
    holdId: z.string().nullable(),
    requestedAt: at,
  }),
);
export const PodProvisioned = defineEvent('pods', 'PodProvisioned', z.object({ podId: z.string(), instanceId: z.string(), at }));
/** Targon's evidence as the provider gave it, bound to the nonce Volt chose; verified by the attestation context. */
export const PodAttestationRecorded = defineEvent(
  'pods',
  'PodAttestationRecorded',
  z.object({ podId: z.string(), instanceId: z.string(), nonce: z.string(), quote: z.record(z.string(), z.unknown()), quoteRaw: z.string(), signature: z.string(), signingKey: z.string(), at }),
);
export const PodRunning = defineEvent('pods', 'PodRunning', z.object({ podId: z.string(), ip: z.string().nullable(), sshPort: z.number().int().nullable(), at }));
/** The provider now reports a running pod's machine at another address (a host move, a new public IP). */
export const PodAddressChanged = defineEvent('pods', 'PodAddressChanged', z.object({ podId: z.string(), ip: z.string().nullable(), sshPort: z.number().int().nullable(), at }));
/**
 * The pod's machine does not answer SSH where its provider says it runs: while it runs (checked
 * again and again), or while it boots once the provider calls it up. Running means SSH answers
 * (seed 003), so the pod says so, until PodSshAnswered (running) or PodRunning (booting).
 */
export const PodSshSilent = defineEvent('pods', 'PodSshSilent', z.object({ podId: z.string(), message: z.string(), at }));
export const PodSshAnswered = defineEvent('pods', 'PodSshAnswered', z.object({ podId: z.string(), at }));
export const PodStopRequested = defineEvent('pods', 'PodStopRequested', z.object({ podId: z.string(), reason: PodReasonSchema.nullable(), at }));
export const PodStopped = defineEvent('pods', 'PodStopped', z.object({ podId: z.string(), at }));
export const PodStartRequested = defineEvent('pods', 'PodStartRequested', z.object({ podId: z.string(), holdId: z.string().nullable(), at }));
/**
 * The provider refused to start the stopped machine for good (its host has not the free GPUs
 * for the pod's gpu_count now): the pod is stopped again, with its instance and volume, and
 * `message` says what to do. A refusal that may pass (an outage) is retried instead.
 */
export const PodStartRefused = defineEvent('pods', 'PodStartRefused', z.object({ podId: z.string(), message: z.string(), at }));
export const PodUpdated = defineEvent(
  'pods',
  'PodUpdated',
  z.object({
    podId: z.string(),
    name: z.string().optional(),
    sshKeyIds: z.array(z.string()).optional(),
    volumeSizeGb: z.number().int().optional(),
    gpuCount: z.number().int().optional(),
    costPerHour: z.number().optional(),
    /** With a new gpu_count, the pod's new share of its machine's CPU and memory. */
    cpuCores: z.number().int().optional(),
    ramGb: z.number().int().optional(),
    at,
  }),
);
/** A delete Volt decided on itself (an unpaid grace period over) carries why; a customer's carries no reason. */
export const PodDeleteRequested = defineEvent(
  'pods',
  'PodDeleteRequested',
  z.object({ podId: z.string(), reason: PodReasonSchema.nullable().optional(), message: z.string().optional(), at }),
);
export const PodDeleted = defineEvent('pods', 'PodDeleted', z.object({ podId: z.string(), at }));
export const PodFailed = defineEvent('pods', 'PodFailed', z.object({ podId: z.string(), reason: PodReasonSchema, message: z.string(), at }));
export const PodTerminatedByProvider = defineEvent('pods', 'PodTerminatedByProvider', z.object({ podId: z.string(), reason: PodReasonSchema, message: z.string(), at }));

export const podStream = (podId: string) => `pods:pod:${podId}`;

export const podCommands = [CreatePod, StartPod, StopPod, DeletePod, UpdatePod] as const;
export const podEvents = [
  PodRequested,
  PodProvisioned,
  PodAttestationRecorded,
  PodRunning,
  PodAddressChanged,
  PodSshSilent,
  PodSshAnswered,
  PodStopRequested,
  PodStopped,
  PodStartRequested,
  PodStartRefused,
  PodUpdated,
  PodDeleteRequested,
  PodDeleted,
  PodFailed,
  PodTerminatedByProvider,
] as const;
