export * from './bootstrap';
export * from './config';
export * from './ops.controller';
export * from './runtime';
export * from './runtime.module';
