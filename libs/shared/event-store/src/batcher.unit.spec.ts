import { AsyncLocalStorage } from 'node:async_hooks';
import { describe, expect, it } from 'vitest';
import { Batcher } from './batcher';

/** A `run` that answers each request doubled once `release` is called, recording every batch. */
function doubling() {
  const batches: number[][] = [];
  let release = () => undefined as void;
  const run = (requests: number[]) => {
    batches.push(requests);
    return new Promise<number[]>((resolve) => (release = () => resolve(requests.map((r) => r * 2))));
  };
  return { batches, run, release: () => release() };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('Batcher', () => {
  it('sends a lone request at once, and the requests made while it is in flight together in the next batch', async () => {
    const d = doubling();
    const batcher = new Batcher(d.run);
    const first = batcher.submit(1);
    expect(d.batches).toEqual([[1]]);
    const rest = [batcher.submit(2), batcher.submit(3), batcher.submit(4)];
    await tick();
    expect(d.batches).toEqual([[1]]);
    d.release();
    expect(await first).toBe(2);
    await tick();
    expect(d.batches).toEqual([[1], [2, 3, 4]]);
    d.release();
    expect(await Promise.all(rest)).toEqual([4, 6, 8]);
  });

  it('splits a long queue into batches of at most maxBatch', async () => {
    const d = doubling();
    const batcher = new Batcher(d.run, 2);
    const answers = [1, 2, 3, 4, 5].map((n) => batcher.submit(n));
    for (let i = 0; i < 3; i++) {
      await tick();
      d.release();
    }
    expect(await Promise.all(answers)).toEqual([2, 4, 6, 8, 10]);
    expect(d.batches).toEqual([[1], [2, 3], [4, 5]]);
  });

  it('fails every request of a batch whose run throws, and goes on with the next', async () => {
    let calls = 0;
    const batcher = new Batcher(async (requests: number[]) => {
      if (calls++ === 1) throw new Error('boom');
      return requests;
    });
    const first = batcher.submit(1);
    const failing = [batcher.submit(2), batcher.submit(3)];
    expect(await first).toBe(1);
    for (const f of failing) await expect(f).rejects.toThrow('boom');
    expect(await batcher.submit(4)).toBe(4);
  });

  it('runs a batch in the async context of the request that leads it (its trace)', async () => {
    const als = new AsyncLocalStorage<string>();
    const seen: (string | undefined)[] = [];
    const d = doubling();
    const batcher = new Batcher((requests: number[]) => {
      seen.push(als.getStore());
      return d.run(requests);
    });
    const a = als.run('request-a', () => batcher.submit(1));
    const b = als.run('request-b', () => batcher.submit(2));
    const c = als.run('request-c', () => batcher.submit(3));
    d.release();
    await a;
    await tick();
    d.release();
    await Promise.all([b, c]);
    expect(seen).toEqual(['request-a', 'request-b']);
  });
});
