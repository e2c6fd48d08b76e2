export * from './envelope';
export * from './errors';
export * from './messages';
export * from './replies';
export * from './paging';
