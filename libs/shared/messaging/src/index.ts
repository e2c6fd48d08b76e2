export * from './command-bus';
export * from './dead-letters';
export * from './handled';
export * from './jetstream.transport';
export * from './relay';
export * from './streams';
export * from './trace-headers';
export * from './base';
