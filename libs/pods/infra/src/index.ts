import { sshKeyListProjection } from './read-models/ssh-key-list/projection';

export * from './commands/ssh-keys.handlers';
export * from './migrations';
export * from './read-models/ssh-key-list/query';
export { sshKeyListProjection };

/** Every read model the pods service keeps. */
export const podsProjections = [sshKeyListProjection];
