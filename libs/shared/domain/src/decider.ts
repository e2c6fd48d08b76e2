import type { DomainError } from '@volt/contracts';

/**
 * A decider in the Emmett sense: pure functions over unions. Time and ids arrive in
 * the command (or its metadata), so nothing here reads a clock.
 */
export interface Decider<Command, Event, State> {
  initialState: () => State;
  evolve: (state: State, event: Event) => State;
  decide: (command: Command, state: State) => Event[] | DomainError;
}

export function isDomainError(value: unknown): value is DomainError {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && 'code' in value && 'message' in value;
}

/** Folds a stream into state. */
export function fold<Event, State>(decider: Pick<Decider<unknown, Event, State>, 'initialState' | 'evolve'>, events: Event[]): State {
  return events.reduce(decider.evolve, decider.initialState());
}

/** For the `default` branch of a switch over a union: fails to compile when a case is missing. */
export function assertNever(value: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(value)}`);
}
