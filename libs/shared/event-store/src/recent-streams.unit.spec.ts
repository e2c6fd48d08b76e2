import { describe, expect, it } from 'vitest';
import { RecentStreams, type Known } from './decider-runner';

const stream = (events: number, version = events): Known => ({
  history: Array.from({ length: events }, (_, i) => ({ id: `e${i}`, type: 'T', data: {}, causationId: null, transactionId: '1', position: String(i) })),
  state: events,
  version,
});

describe('the streams a process remembers for its decisions', () => {
  it('drops the least recently used first, by streams and by events in all', () => {
    const recent = new RecentStreams({ streams: 3, events: 10, longest: 5 });
    recent.set('a', stream(2));
    recent.set('b', stream(2));
    recent.set('c', stream(2));
    expect(recent.get('a')?.version).toBe(2); // a is now the most recent
    recent.set('d', stream(2)); // four streams: b, the least recently used, goes
    expect(recent.get('b')).toBeUndefined();
    expect(recent.size).toEqual({ streams: 3, events: 6 });
    recent.set('e', stream(5)); // 11 events, over 10: c goes
    expect(recent.get('c')).toBeUndefined();
    expect(recent.size).toEqual({ streams: 3, events: 9 });
    recent.set('f', stream(4)); // a (least recent now) and d go: 13 → 11 → 9
    expect([recent.get('a'), recent.get('d')]).toEqual([undefined, undefined]);
    expect(recent.size).toEqual({ streams: 2, events: 9 });
  });

  it('keeps no stream longer than the longest it may hold, and never goes back to an older version', () => {
    const recent = new RecentStreams({ streams: 3, events: 100, longest: 5 });
    recent.set('long', stream(6));
    expect(recent.get('long')).toBeUndefined();
    recent.set('s', stream(4));
    recent.set('s', stream(3)); // seen earlier, stored later: the newer stays
    expect(recent.get('s')?.version).toBe(4);
    recent.set('s', stream(6)); // grew past the longest: forgotten, and counted out
    expect(recent.get('s')).toBeUndefined();
    expect(recent.size).toEqual({ streams: 0, events: 0 });
  });
});
