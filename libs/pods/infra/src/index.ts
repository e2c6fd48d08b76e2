import { dockerCredentialListProjection } from './read-models/docker-credentials/projection';
import { sshKeyListProjection } from './read-models/ssh-key-list/projection';
import { templateListProjection } from './read-models/templates/projection';

export * from './commands/ssh-keys.handlers';
export * from './commands/templates.handlers';
export * from './migrations';
export * from './read-models/docker-credentials/query';
export * from './read-models/ssh-key-list/query';
export * from './read-models/templates/query';
export * from './read-models/templates/resolve';
export { dockerCredentialListProjection, sshKeyListProjection, templateListProjection };

/** Every read model the pods service keeps. */
export const podsProjections = [sshKeyListProjection, templateListProjection, dockerCredentialListProjection];
