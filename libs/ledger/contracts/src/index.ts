export * from './accounts';
export * from './money';
export * from './transfers';
