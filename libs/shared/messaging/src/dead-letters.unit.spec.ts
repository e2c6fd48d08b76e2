import { describe, expect, it } from 'vitest';
import { ProjectionWaitTimeoutError } from '@volt/projections';
import { CommandTimeoutError, MessagingUnavailableError } from './command-bus';
import { isTransientFailure } from './dead-letters';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('isTransientFailure', () => {
  it('calls an outage of the database, NATS or another service transient', () => {
    for (const error of [
      withCode('57P01', 'terminating connection due to administrator command'),
      withCode('08006'),
      withCode('53300', 'too many connections'),
      withCode('ECONNREFUSED'),
      new Error('Connection terminated unexpectedly'),
      new Error('timeout exceeded when trying to connect'),
      withCode('40001', 'could not serialize access'),
      withCode('40P01', 'deadlock detected'),
      new CommandTimeoutError('c1', 5_000),
      new MessagingUnavailableError(1_000),
      Object.assign(new Error('timeout'), { name: 'TimeoutError' }),
      new ProjectionWaitTimeoutError('42', 10_000),
    ])
      expect(isTransientFailure(error), String(error)).toBe(true);
  });

  it('calls a handler’s own failure, or a statement PostgreSQL refused, permanent', () => {
    for (const error of [new TypeError("Cannot read properties of undefined (reading 'id')"), withCode('23505', 'duplicate key'), withCode('22P02', 'invalid input syntax'), { status: 'error', message: 'Internal server error' }, undefined, 'boom'])
      expect(isTransientFailure(error), String(error)).toBe(false);
  });
});
