import { Inject, Injectable } from '@nestjs/common';
import { RUNTIME, type VoltRuntime } from '@volt/platform';
import type { PageQuery } from '@volt/contracts';
import type { ApiKey, ApiKeyCreatedResponse, Role, Scope } from '@volt/identity-contracts';
import type { OrganizationCommand } from '@volt/identity-domain';
import { decideForOrganization, generateApiKey, listApiKeys, newId } from '@volt/identity-infra';
import { commandIdFor } from '../commands';
import { ApiException } from '../http/api-error';
import type { Caller } from '../http/caller';
import { Authenticator } from '../auth/authenticator';

/** Identity commands run here, in the gateway that owns them; each answers once its read model shows the change. */
@Injectable()
export class IdentityCommands {
  constructor(@Inject(RUNTIME) private readonly runtime: VoltRuntime) {}

  async run(caller: Caller, command: OrganizationCommand & { data: { requestedAt: string } }) {
    const reply = await decideForOrganization(
      this.runtime.store,
      { commandId: commandIdFor(caller, command.type), orgId: caller.tenantId, actor: caller.actor, correlationId: caller.requestId },
      command,
    );
    if (!reply.ok) throw ApiException.fromDomain(reply.error);
    if (reply.checkpoint) await this.runtime.projections.waitFor(reply.checkpoint);
    return reply.result;
  }
}

@Injectable()
export class ApiKeysService {
  constructor(
    @Inject(RUNTIME) private readonly runtime: VoltRuntime,
    private readonly commands: IdentityCommands,
    private readonly auth: Authenticator,
  ) {}

  async list(caller: Caller, page: PageQuery): Promise<{ api_keys: ApiKey[]; total: number }> {
    const { keys, total } = await listApiKeys(this.runtime.db, caller.tenantId, page);
    for (const key of keys) {
      const pending = this.auth.pendingUsage(key.id);
      if (pending && (!key.last_used || pending.toISOString() > key.last_used)) key.last_used = pending.toISOString();
    }
    return { api_keys: keys, total };
  }

  async create(caller: Caller, input: { name: string; scopes?: Scope[]; role?: Role }): Promise<ApiKeyCreatedResponse> {
    const { secret, hash, preview } = generateApiKey();
    const events = await this.commands.run(caller, {
      type: 'CreateApiKey',
      data: {
        keyId: newId('ak'),
        name: input.name,
        keyHash: hash,
        keyPreview: preview,
        // Unless asked for fewer: the scopes of the key that asks.
        scopes: input.scopes ?? caller.scopes,
        role: input.role ?? (caller.role === 'owner' ? 'admin' : caller.role),
        requesterRole: caller.role,
        requesterScopes: caller.scopes,
        requestedAt: new Date().toISOString(),
      },
    });
    const created = events.find((e) => e.type === 'ApiKeyCreated');
    // The secret is never stored, so a repeat of this request cannot show it again: neither one
    // whose first attempt died (its command replayed) nor one after an answer the client lost.
    const shownOnce = ApiException.of('CONFLICT', 'This key was already created by an earlier attempt of this request; its secret cannot be shown again. Revoke it and create a new one.');
    if (!created || created.data.keyHash !== hash) throw shownOnce;
    caller.replayAs = shownOnce;
    const d = created.data;
    return { id: d.keyId, name: d.name, key: secret, scopes: d.scopes, role: d.role, created_at: d.createdAt, message: 'Store this key securely. It will not be shown again.' };
  }

  async revoke(caller: Caller, keyId: string): Promise<{ id: string; deleted: true; message: string }> {
    await this.commands.run(caller, { type: 'RevokeApiKey', data: { keyId, requestedAt: new Date().toISOString() } });
    return { id: keyId, deleted: true, message: 'API key revoked. Any requests using this key will now return 401.' };
  }
}
