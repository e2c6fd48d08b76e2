import { AddDockerCredential, DockerCredentialAdded, DockerCredentialRemoved, RemoveDockerCredential } from './docker-credentials';
import { AddSshKey, RemoveSshKey, SshKeyAdded, SshKeyRemoved } from './ssh-keys';
import { podCommands, podEvents } from './pods';
import { CreateTemplate, DeleteTemplate, TemplateCreated, TemplateDeleted, TemplateUpdated, UpdateTemplate } from './templates';

export * from './docker-credentials';
export * from './machines';
export * from './pods';
export * from './ssh-key-format';
export * from './ssh-keys';
export * from './templates';

/** Every event the pods context publishes, for JSON Schema export and subscribers. */
export const podsEvents = [SshKeyAdded, SshKeyRemoved, TemplateCreated, TemplateUpdated, TemplateDeleted, DockerCredentialAdded, DockerCredentialRemoved, ...podEvents] as const;
export const podsCommands = [AddSshKey, RemoveSshKey, CreateTemplate, UpdateTemplate, DeleteTemplate, AddDockerCredential, RemoveDockerCredential, ...podCommands] as const;
