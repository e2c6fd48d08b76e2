export * from './logger';
export * from './metrics';
export * from './sdk';
export * from './tracing';
export * from './http';
export * from './behind';
