export * from './charging';
export * from './meters.projection';
export * from './migrations';
export * from './usage';
export * from './grace';
export * from './billing-events';
