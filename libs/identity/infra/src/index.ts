import { organizationsProjection } from './read-models/organizations/projection';

export * from './audit/audit-log';
export * from './commands/api-key-secret';
export * from './commands/create-organization';
export * from './commands/organization.handlers';
export * from './idempotency/idempotency-store';
export * from './migrations';
export * from './rate-limits/rate-limiter';
export * from './read-models/organizations/query';
export { organizationsProjection };

/** Every read model the identity context keeps (run by the gateway). */
export const identityProjections = [organizationsProjection];
