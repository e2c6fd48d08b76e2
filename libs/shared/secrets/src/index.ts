export * from './keyring';
export * from './setting';
