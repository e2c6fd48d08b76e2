import { domainError, type MessageOf } from '@volt/contracts';
import { assertNever, type Decider } from '@volt/domain';
import type {
  AddDockerCredential,
  CreateTemplate,
  DeleteTemplate,
  DockerCredentialAdded,
  DockerCredentialRemoved,
  RemoveDockerCredential,
  TemplateCreated,
  TemplateDeleted,
  TemplateUpdated,
  UpdateTemplate,
} from '@volt/pods-contracts';

export type TemplatesCommand =
  | MessageOf<typeof CreateTemplate>
  | MessageOf<typeof UpdateTemplate>
  | MessageOf<typeof DeleteTemplate>
  | MessageOf<typeof AddDockerCredential>
  | MessageOf<typeof RemoveDockerCredential>;
export type TemplatesEvent =
  | MessageOf<typeof TemplateCreated>
  | MessageOf<typeof TemplateUpdated>
  | MessageOf<typeof TemplateDeleted>
  | MessageOf<typeof DockerCredentialAdded>
  | MessageOf<typeof DockerCredentialRemoved>;

/** One organization's templates and registry credentials (or Volt's system templates). */
export interface TemplatesState {
  templates: Set<string>;
  credentials: Set<string>;
}

export const MAX_TEMPLATES = 500;
export const MAX_DOCKER_CREDENTIALS = 100;

const without = (set: Set<string>, id: string) => {
  const next = new Set(set);
  next.delete(id);
  return next;
};

function credentialMissing(id: string) {
  const message = `Docker credential ${id} not found in this organization.`;
  return domainError('VALIDATION_ERROR', message, [{ field: 'docker_credential_id', rule: 'exists', message }]);
}

export const templatesDecider: Decider<TemplatesCommand, TemplatesEvent, TemplatesState> = {
  initialState: () => ({ templates: new Set(), credentials: new Set() }),

  evolve(state, event) {
    switch (event.type) {
      case 'TemplateCreated':
        return { ...state, templates: new Set(state.templates).add(event.data.templateId) };
      case 'TemplateUpdated':
        return state;
      case 'TemplateDeleted':
        return { ...state, templates: without(state.templates, event.data.templateId) };
      case 'DockerCredentialAdded':
        return { ...state, credentials: new Set(state.credentials).add(event.data.credentialId) };
      case 'DockerCredentialRemoved':
        return { ...state, credentials: without(state.credentials, event.data.credentialId) };
      default:
        return assertNever(event);
    }
  },

  decide(command, state) {
    switch (command.type) {
      case 'CreateTemplate': {
        const { requestedAt, ...fields } = command.data;
        if (state.templates.has(fields.templateId)) return domainError('CONFLICT', `Template ${fields.templateId} already exists.`);
        if (state.templates.size >= MAX_TEMPLATES) return domainError('CONFLICT', `An organization can keep ${MAX_TEMPLATES} templates; delete one first.`);
        if (fields.dockerCredentialId && !state.credentials.has(fields.dockerCredentialId)) return credentialMissing(fields.dockerCredentialId);
        return [{ type: 'TemplateCreated', data: { ...fields, createdAt: requestedAt } }];
      }
      case 'UpdateTemplate': {
        const { requestedAt, ...changes } = command.data;
        if (!state.templates.has(changes.templateId)) return domainError('NOT_FOUND', 'Template not found.');
        if (changes.dockerCredentialId && !state.credentials.has(changes.dockerCredentialId)) return credentialMissing(changes.dockerCredentialId);
        return [{ type: 'TemplateUpdated', data: { ...changes, updatedAt: requestedAt } }];
      }
      case 'DeleteTemplate':
        if (!state.templates.has(command.data.templateId)) return domainError('NOT_FOUND', 'Template not found.');
        return [{ type: 'TemplateDeleted', data: { templateId: command.data.templateId, deletedAt: command.data.requestedAt } }];
      case 'AddDockerCredential': {
        const { credentialId, name, registry, username, requestedAt } = command.data;
        if (state.credentials.has(credentialId)) return domainError('CONFLICT', `Docker credential ${credentialId} already exists.`);
        if (state.credentials.size >= MAX_DOCKER_CREDENTIALS) return domainError('CONFLICT', `An organization can keep ${MAX_DOCKER_CREDENTIALS} Docker credentials; delete one first.`);
        return [{ type: 'DockerCredentialAdded', data: { credentialId, name, registry, username, addedAt: requestedAt } }];
      }
      // Allowed even while templates use it (seed 000): their next deploy fails with a clear error.
      case 'RemoveDockerCredential':
        if (!state.credentials.has(command.data.credentialId)) return domainError('NOT_FOUND', 'Docker credential not found.');
        return [{ type: 'DockerCredentialRemoved', data: { credentialId: command.data.credentialId, removedAt: command.data.requestedAt } }];
      default:
        return assertNever(command);
    }
  },
};
