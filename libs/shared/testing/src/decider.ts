import { expect } from 'vitest';
import type { DomainError } from '@volt/contracts';
import { fold, isDomainError, type Decider } from '@volt/domain';

/**
 * Given / when / then for deciders: given past events, when a command, then the
 * events it decides (or the domain error it returns). No I/O, no clock.
 */
export function given<C, E, S>(decider: Decider<C, E, S>, events: E[] = []) {
  const state = fold(decider, events);
  return {
    when(command: C) {
      const outcome = decider.decide(command, state);
      return {
        then(expected: E[]) {
          if (isDomainError(outcome)) throw new Error(`expected events, got error ${outcome.code}: ${outcome.message}`);
          expect(outcome).toEqual(expected);
        },
        thenError(code: DomainError['code']) {
          if (!isDomainError(outcome)) throw new Error(`expected ${code}, got events ${JSON.stringify(outcome)}`);
          expect(outcome.code).toBe(code);
          return outcome;
        },
        outcome,
      };
    },
  };
}
