import { describe, expect, it } from 'vitest';
import { ReadCache } from './read-cache';

/** A load that answers when told to. */
function deferred<T>(value: T) {
  let answer!: () => void;
  const answered = new Promise<void>((resolve) => (answer = resolve));
  return { load: async () => (await answered, value), answer };
}

describe('ReadCache', () => {
  it('answers from memory until the organization’s resource changes', async () => {
    const cache = new ReadCache();
    let loads = 0;
    const load = async () => ({ n: ++loads });
    expect(await cache.get('ssh-keys', 'org_a', 'all', load)).toEqual({ n: 1 });
    expect(await cache.get('ssh-keys', 'org_a', 'all', load)).toEqual({ n: 1 });
    // Another organization, another resource: their own entries.
    expect(await cache.get('ssh-keys', 'org_b', 'all', load)).toEqual({ n: 2 });
    expect(await cache.get('templates', 'org_a', 'all', load)).toEqual({ n: 3 });
    cache.invalidate('ssh-keys', 'org_a');
    expect(await cache.get('ssh-keys', 'org_a', 'all', load)).toEqual({ n: 4 });
    expect(await cache.get('ssh-keys', 'org_b', 'all', load)).toEqual({ n: 2 });
    expect(cache.stats()).toEqual({ entries: 3, loading: 0 });
  });

  it('does not keep a load that a change overtook, nor one that a clear did', async () => {
    const cache = new ReadCache();
    const before = deferred({ keys: ['old'] });
    const pending = cache.get('ssh-keys', 'org_a', 'all', before.load);
    // A second reader of the same list while the first load is out shares nothing with it.
    const second = deferred({ keys: ['old'] });
    const pendingSecond = cache.get('ssh-keys', 'org_a', 'all', second.load);
    cache.invalidate('ssh-keys', 'org_a');
    before.answer();
    second.answer();
    expect(await pending).toEqual({ keys: ['old'] });
    expect(await pendingSecond).toEqual({ keys: ['old'] });
    expect(cache.stats()).toEqual({ entries: 0, loading: 0 });
    expect(await cache.get('ssh-keys', 'org_a', 'all', async () => ({ keys: ['new'] }))).toEqual({ keys: ['new'] });

    const cleared = deferred({ list: 'stale' });
    const pendingCleared = cache.get('templates', 'org_a', 'all', cleared.load);
    cache.clear();
    cleared.answer();
    await pendingCleared;
    expect(await cache.get('templates', 'org_a', 'all', async () => ({ list: 'fresh' }))).toEqual({ list: 'fresh' });
  });

  it('keeps nothing for an organization once its loads are over, however often its resources change', async () => {
    const cache = new ReadCache();
    for (let i = 0; i < 1_000; i++) cache.invalidate('docker-credentials', `org_${i}`);
    const failing = cache.get('ssh-keys', 'org_x', 'all', async () => {
      throw new Error('database away');
    });
    await expect(failing).rejects.toThrow('database away');
    expect(cache.stats()).toEqual({ entries: 0, loading: 0 });
  });
});
