export * from './ledger';
export * from './migrations';
