/** PostgreSQL's codes for a session ended under it (shutdown, failover, too many connections, connection exceptions). */
const LOST_DATABASE_CODE = /^(57P0[123]|53300|08...)$/;
const LOST_SOCKET_CODE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);
/** What node-pg says, without a code, of a connection that ended or could not be had in time. */
const LOST_CONNECTION_MESSAGE = /Connection terminated|connection error and is not queryable|timeout exceeded when trying to connect/i;

/** The database could not be reached or dropped the session: a moment's unavailability, not a bug of ours. */
export function isDatabaseUnavailable(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (LOST_DATABASE_CODE.test(code) || LOST_SOCKET_CODE.has(code))) return true;
  return typeof message === 'string' && LOST_CONNECTION_MESSAGE.test(message);
}
