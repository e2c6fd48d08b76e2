import { describe, expect, it } from 'vitest';
import { toApiException } from './error-handling';

const pgError = (code: string | undefined, message: string) => Object.assign(new Error(message), code ? { code } : {});

describe('toApiException', () => {
  it('answers 503 for a database session that ended or could not be had, and 500 for anything else unexpected', () => {
    for (const lost of [
      pgError('57P01', 'terminating connection due to administrator command'),
      pgError('53300', 'sorry, too many clients already'),
      pgError('08006', 'connection failure'),
      pgError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'),
      pgError(undefined, 'Connection terminated unexpectedly'),
      pgError(undefined, 'Client has encountered a connection error and is not queryable'),
      pgError(undefined, 'timeout exceeded when trying to connect'),
    ]) {
      expect(toApiException(lost).body).toMatchObject({ status: 503, code: 'SERVICE_UNAVAILABLE' });
    }
    for (const bug of [pgError('42P01', 'relation "nope" does not exist'), pgError('23505', 'duplicate key value'), new TypeError('x is undefined')]) {
      const api = toApiException(bug);
      expect(api.body).toMatchObject({ status: 500, code: 'INTERNAL_ERROR' });
      expect(JSON.stringify(api.body)).not.toContain('relation');
    }
  });
});
