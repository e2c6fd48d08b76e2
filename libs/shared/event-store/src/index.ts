export * from './database';
export * from './errors';
export * from './event-store';
export * from './ids';
export * from './migrations';
export * from './seals';
export * from './verify';
export * from './decider-runner';
