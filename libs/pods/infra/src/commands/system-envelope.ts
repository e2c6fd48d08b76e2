import type { CommandEnvelope } from '@volt/contracts';

/** The envelope of a decision the pods service takes itself (the reconciler, a provider observation). */
export function systemEnvelope(tenantId: string, commandId: string, correlationId: string, type: string): CommandEnvelope {
  return {
    id: commandId,
    type,
    schemaVersion: 1,
    tenantId,
    correlationId,
    causationId: null,
    actor: { type: 'system', id: 'pods' },
    issuedAt: new Date().toISOString(),
    data: {},
  };
}
