import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { currentSchemaVersion, defineEvent, upcast } from './messages';

// Version 1 had `a`; version 2 added `b`; version 3 added their sum.
const Measured = defineEvent('test', 'UnitMeasured', z.object({ a: z.number(), b: z.number(), sum: z.number() }), 3, {
  1: (d: { a: number }) => ({ ...d, b: 0 }),
  2: (d: { a: number; b: number }) => ({ ...d, sum: d.a + d.b }),
});

describe('event schema versions', () => {
  it('brings data stored at any older version to the current one, one upcaster after another', () => {
    expect(Measured.schemaVersion).toBe(3);
    expect(currentSchemaVersion('UnitMeasured')).toBe(3);
    expect(upcast('UnitMeasured', 1, { a: 2 })).toEqual({ schemaVersion: 3, data: { a: 2, b: 0, sum: 2 } });
    expect(upcast('UnitMeasured', 2, { a: 2, b: 5 })).toEqual({ schemaVersion: 3, data: { a: 2, b: 5, sum: 7 } });
    const current = { a: 1, b: 1, sum: 2 };
    expect(upcast('UnitMeasured', 3, current).data).toBe(current);
    // A type with no later version is read as it is.
    expect(currentSchemaVersion('NeverVersioned')).toBe(1);
    expect(upcast('NeverVersioned', 1, current)).toEqual({ schemaVersion: 1, data: current });
  });

  it('refuses a version without a way from each older one, and one type defined twice', () => {
    expect(() => defineEvent('test', 'UnitGapped', z.object({}), 3, { 1: (d) => d })).toThrow('test.UnitGapped v3 needs an upcaster from v2');
    expect(() => defineEvent('other', 'UnitMeasured', z.object({}), 2, { 1: (d) => d })).toThrow('UnitMeasured is defined twice (test v3, other v2)');
  });
});
