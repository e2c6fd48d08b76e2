import { describe, expect, it } from 'vitest';
import { FINE_TUNING_MICROS_PER_HOUR, fineTuningTier } from './price-book';

describe('price book: fine-tuning tiers (seed 000)', () => {
  it('prices a job by its base model’s size, and image tasks as image LoRA', () => {
    const rate = (taskType: string, paramsBillions: number) => FINE_TUNING_MICROS_PER_HOUR[fineTuningTier({ taskType, paramsBillions })] / 1e6;
    expect(rate('text', 0.5)).toBe(18.5);
    expect(rate('text', 1)).toBe(18.5);
    expect(rate('chat', 7)).toBe(27.75);
    expect(rate('dpo', 8)).toBe(46.25);
    expect(rate('text', 40)).toBe(46.25);
    expect(rate('grpo', 70)).toBe(92.5);
    expect(rate('image', 12)).toBe(9.25);
  });
});
