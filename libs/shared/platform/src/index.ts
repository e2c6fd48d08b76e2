export * from './append-signal';
export * from './bootstrap';
export * from './catch-up';
export * from './config';
export * from './ops.controller';
export * from './runtime';
export * from './runtime.module';
