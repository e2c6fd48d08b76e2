export * from './charging';
export * from './meters.projection';
export * from './migrations';
