import { z } from 'zod';
import { PageQuerySchema } from '@volt/contracts';
import { ProviderNameSchema } from './pods';

/** One rentable machine (seed 000), with the offer facts the filters of seeds 002/003 need. */
export const MachineSchema = z
  .object({
    id: z.string(),
    gpu_type: z.string(),
    gpu_count: z.number().int(),
    gpu_vram_gb: z.number().int(),
    cpu_cores: z.number().int(),
    ram_gb: z.number().int(),
    storage_gb: z.number().int(),
    cost_per_gpu_hour: z.number(),
    available_gpus: z.number().int(),
    location: z.string(),
    provider: ProviderNameSchema,
    confidential: z.boolean(),
    instance_type: z.enum(['dedicated', 'spot']),
    minimum_runtime_minutes: z.number().int(),
    resource_name: z.string().nullable(),
  })
  .meta({ id: 'Machine' });
export type Machine = z.infer<typeof MachineSchema>;
export const MachineListSchema = z.object({ machines: z.array(MachineSchema), total: z.number().int() }).meta({ id: 'MachineList' });

const bool = z.enum(['true', 'false']).transform((v) => v === 'true');
const nonNegative = z.coerce.number().min(0);

/** GET /api/volt/machines filters (seeds 002 and 003). `gpu_count` is seed 003's alias of `min_gpu_count`. */
export const MachineQuerySchema = PageQuerySchema.extend({
  provider: ProviderNameSchema.optional(),
  gpu_type: z.string().trim().min(1).max(50).optional(),
  location: z.string().trim().min(1).max(50).optional(),
  min_vram: nonNegative.optional(),
  max_price: nonNegative.optional(),
  min_gpu_count: z.coerce.number().int().min(1).optional(),
  gpu_count: z.coerce.number().int().min(1).optional(),
  confidential: bool.optional(),
  instance_type: z
    .string()
    .transform((v) => v.toLowerCase())
    .pipe(z.enum(['spot', 'dedicated']))
    .optional(),
  sort: z.enum(['price', 'gpu_count', 'vram', 'available_gpus', 'location']).default('price'),
  order: z.enum(['asc', 'desc']).default('asc'),
});
export type MachineQuery = z.infer<typeof MachineQuerySchema>;

export const ProviderSummarySchema = z
  .object({ name: ProviderNameSchema, kind: z.enum(['standard', 'confidential']), status: z.enum(['ok', 'unavailable']), machines: z.number().int(), refreshed_at: z.string().nullable() })
  .meta({ id: 'Provider' });
export const ProviderListSchema = z.object({ providers: z.array(ProviderSummarySchema), total: z.number().int() }).meta({ id: 'ProviderList' });
