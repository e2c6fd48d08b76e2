export * from './database';
export * from './decider';
export * from './events';
export * from './nats';
export * from './projections';
