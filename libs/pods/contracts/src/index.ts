import { AddSshKey, RemoveSshKey, SshKeyAdded, SshKeyRemoved } from './ssh-keys';

export * from './ssh-key-format';
export * from './ssh-keys';

/** Every event the pods context publishes, for JSON Schema export and subscribers. */
export const podsEvents = [SshKeyAdded, SshKeyRemoved] as const;
export const podsCommands = [AddSshKey, RemoveSshKey] as const;
