export * from './command-bus';
export * from './handled';
export * from './jetstream.transport';
export * from './migrations';
export * from './names';
export * from './relay';
export * from './streams';
export * from './connect';
