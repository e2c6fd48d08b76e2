export * from './migrations';
export * from './projection';
export * from './runner';
export * from './rows';
