export * from './ledger';
export * from './migrations';
export * from './read-models/projections';
export * from './read-models/queries';
export * from './vouchers';
export * from './audit';
