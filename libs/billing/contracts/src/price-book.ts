/**
 * Volt's price book, in micro-dollars. GPU time is not here: a pod keeps the per-GPU hourly
 * rate the catalogue showed when it was launched (PodRequested.costPerHour), so a later price
 * change never reprices a running pod.
 */

/** Seed 002: storage costs 0.000137 USD per GB-hour, i.e. 137 micro-dollars. */
export const STORAGE_MICROS_PER_GB_HOUR = 137;

export type FineTuningTier = 'up_to_1b' | 'around_7b' | '8b_to_40b' | 'over_40b' | 'image_lora';

/** Seed 000: fine-tuning per hour of training, by the base model's size; image LoRA its own tier. */
export const FINE_TUNING_MICROS_PER_HOUR: Record<FineTuningTier, number> = {
  up_to_1b: 18_500_000,
  around_7b: 27_750_000,
  '8b_to_40b': 46_250_000,
  over_40b: 92_500_000,
  image_lora: 9_250_000,
};

/**
 * The tier of a fine-tuning job: image tasks are image LoRA whatever the model; text tasks go
 * by the base model's parameters in billions (≤ 1B; up to 8B, the seed's "~7B"; 8–40B; above 40B).
 */
export function fineTuningTier(job: { taskType: string; paramsBillions: number }): FineTuningTier {
  if (job.taskType === 'image') return 'image_lora';
  if (job.paramsBillions <= 1) return 'up_to_1b';
  if (job.paramsBillions < 8) return 'around_7b';
  if (job.paramsBillions <= 40) return '8b_to_40b';
  return 'over_40b';
}
