import { dockerCredentialListProjection } from './read-models/docker-credentials/projection';
import { podSessionsProjection } from './read-models/pod-sessions/projection';
import { sshKeyListProjection } from './read-models/ssh-key-list/projection';
import { templateListProjection } from './read-models/templates/projection';

export * from './commands/holds';
export * from './commands/pods.handlers';
export * from './commands/system-envelope';
export * from './commands/ssh-keys.handlers';
export * from './commands/templates.handlers';
export * from './migrations';
export * from './providers/port';
export * from './providers/providers';
export * from './providers/ssh-probe';
export * from './read-models/docker-credentials/query';
export * from './read-models/machines/catalogue';
export * from './read-models/machines/refresher';
export * from './read-models/pod-sessions/query';
export * from './read-models/ssh-key-list/query';
export * from './read-models/templates/query';
export * from './read-models/templates/resolve';
export * from './reconciler/reconciler';
export { dockerCredentialListProjection, podSessionsProjection, sshKeyListProjection, templateListProjection };

/** Every read model the pods service keeps. */
export const podsProjections = [sshKeyListProjection, templateListProjection, dockerCredentialListProjection, podSessionsProjection];
