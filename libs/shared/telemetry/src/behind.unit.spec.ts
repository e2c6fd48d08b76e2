import { describe, expect, it } from 'vitest';
import { BehindGauge } from './behind';
import { metricsRegistry } from './metrics';

const samples = async (name: string) => (await metricsRegistry().getSingleMetric(name)!.get()).values.map((v) => ({ labels: v.labels, value: v.value }));
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('BehindGauge', () => {
  it('shows how long each followed thing has gone without its end being reached, growing while nothing reaches it', async () => {
    const gauge = new BehindGauge('test_behind_seconds', 'test', 'projection');
    const a = {};
    expect(await samples('test_behind_seconds')).toEqual([]);
    gauge.follow(a, 'one');
    gauge.follow(a, 'two');
    await pause(60);
    gauge.reached(a, 'two');
    const first = await samples('test_behind_seconds');
    const one = first.find((s) => s.labels.projection === 'one')!.value;
    expect(one).toBeGreaterThanOrEqual(0.05);
    expect(first.find((s) => s.labels.projection === 'two')!.value).toBeLessThan(one);
    await pause(30);
    // Nothing reached 'one' meanwhile: scraped again, it is further behind, not the same value.
    const again = (await samples('test_behind_seconds')).find((s) => s.labels.projection === 'one')!.value;
    expect(again).toBeGreaterThanOrEqual(one + 0.02);
  });

  it('shows the loop furthest behind when two follow the same thing, keeps a later reach over an earlier one, and nothing once forgotten', async () => {
    const gauge = new BehindGauge('test_relay_behind_seconds', 'test', 'relay');
    const stuck = {};
    const keeping = {};
    gauge.follow(stuck, 'outbox');
    await pause(50);
    gauge.follow(keeping, 'outbox');
    gauge.reached(keeping, 'outbox');
    // A reach measured before one already recorded (an older read finishing late) does not move it back.
    gauge.reached(keeping, 'outbox', performance.now() - 10_000);
    const [both] = await samples('test_relay_behind_seconds');
    expect(both.value).toBeGreaterThanOrEqual(0.04);
    gauge.forget(stuck);
    const [left] = await samples('test_relay_behind_seconds');
    expect(left.value).toBeLessThan(both.value);
    expect(left.value).toBeLessThan(1);
    // Reaching the end of something not followed does not start following it.
    gauge.reached({}, 'outbox');
    gauge.forget(keeping);
    expect(await samples('test_relay_behind_seconds')).toEqual([]);
  });

  it('refuses a second gauge of the same name, which would hide the first', () => {
    expect(() => new BehindGauge('test_relay_behind_seconds', 'again', 'relay')).toThrow(/made twice/);
  });
});
