import { describe, expect, it } from 'vitest';
import { given } from '@volt/testing';
import { templatesDecider, type TemplatesEvent } from './templates.decider';

const at = '2026-11-22T10:00:00.000Z';
const fields = { name: 'SDXL', image: 'ghcr.io/acme/sdxl:v2', category: 'image-generation', description: '', ports: [8188], envVars: { A: '1' } };
const credential: TemplatesEvent = { type: 'DockerCredentialAdded', data: { credentialId: 'cred_a', name: 'ghcr', registry: 'ghcr.io', username: 'acme', addedAt: at } };
const template: TemplatesEvent = { type: 'TemplateCreated', data: { ...fields, templateId: 'tpl_a', dockerCredentialId: 'cred_a', isSystem: false, createdAt: at } };

describe('templates decider', () => {
  it('creates a template that uses one of the organization’s own credentials', () => {
    given(templatesDecider, [credential])
      .when({ type: 'CreateTemplate', data: { ...fields, templateId: 'tpl_a', dockerCredentialId: 'cred_a', isSystem: false, requestedAt: at } })
      .then([template]);
  });

  it('refuses a credential the organization does not hold, naming the field', () => {
    const error = given(templatesDecider)
      .when({ type: 'CreateTemplate', data: { ...fields, templateId: 'tpl_a', dockerCredentialId: 'cred_other', isSystem: false, requestedAt: at } })
      .thenError('VALIDATION_ERROR');
    expect(error.details?.[0].field).toBe('docker_credential_id');
    given(templatesDecider, [credential, template])
      .when({ type: 'UpdateTemplate', data: { templateId: 'tpl_a', dockerCredentialId: 'cred_other', requestedAt: at } })
      .thenError('VALIDATION_ERROR');
  });

  it('lets a credential in use be removed; updates and deletes of unknown templates are not found', () => {
    given(templatesDecider, [credential, template]).when({ type: 'RemoveDockerCredential', data: { credentialId: 'cred_a', requestedAt: at } }).then([
      { type: 'DockerCredentialRemoved', data: { credentialId: 'cred_a', removedAt: at } },
    ]);
    given(templatesDecider, [credential]).when({ type: 'DeleteTemplate', data: { templateId: 'tpl_a', requestedAt: at } }).thenError('NOT_FOUND');
    given(templatesDecider, [credential]).when({ type: 'UpdateTemplate', data: { templateId: 'tpl_a', name: 'x', requestedAt: at } }).thenError('NOT_FOUND');
  });

  it('records only what an update changes', () => {
    given(templatesDecider, [credential, template]).when({ type: 'UpdateTemplate', data: { templateId: 'tpl_a', image: 'ghcr.io/acme/sdxl:v3', requestedAt: at } }).then([
      { type: 'TemplateUpdated', data: { templateId: 'tpl_a', image: 'ghcr.io/acme/sdxl:v3', updatedAt: at } },
    ]);
  });
});
