import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Wakeable } from './wakeable';

/** How long one rest lasts, in fake milliseconds. */
async function restLength(w: Wakeable): Promise<number> {
  const start = Date.now();
  let done = false;
  const rest = w.rest().then(() => (done = true));
  while (!done) await vi.advanceTimersByTimeAsync(1);
  await rest;
  return Date.now() - start;
}

describe('Wakeable', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('rests twice as long after each look that found nothing, up to the ceiling', async () => {
    const w = new Wakeable(20, 250);
    const lengths = [];
    for (let i = 0; i < 6; i++) lengths.push(await restLength(w));
    expect(lengths).toEqual([20, 40, 80, 160, 250, 250]);
  });

  it('starts again from the shortest rest after a look that found something, or a wake-up', async () => {
    const w = new Wakeable(20, 250);
    for (let i = 0; i < 4; i++) await restLength(w);
    w.busy();
    expect(await restLength(w)).toBe(20);
    await restLength(w);
    const rest = w.rest();
    await vi.advanceTimersByTimeAsync(5);
    w.wake(); // cuts the current rest short, and the next one is short again
    await rest;
    expect(await restLength(w)).toBe(20);
  });
});
