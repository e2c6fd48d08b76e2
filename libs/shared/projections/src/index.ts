export * from './migrations';
export * from './projection';
export * from './rebuild';
export * from './runner';
export * from './rows';
export { projectionCheckpoints } from './checkpoints';
