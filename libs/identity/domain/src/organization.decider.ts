import { domainError, type MessageOf } from '@volt/contracts';
import { assertNever, type Decider } from '@volt/domain';
import {
  roleAtLeast,
  type AddMember,
  type ApiKeyCreated,
  type ApiKeyRevoked,
  type ChangeMemberRole,
  type CreateApiKey,
  type CreateOrganization,
  type MemberAdded,
  type MemberRemoved,
  type MemberRoleChanged,
  type OrganizationCreated,
  type OrganizationLimitsSet,
  type RemoveMember,
  type RevokeApiKey,
  type Role,
  type SetOrganizationLimits,
} from '@volt/identity-contracts';

export type OrganizationCommand =
  | MessageOf<typeof CreateOrganization>
  | MessageOf<typeof AddMember>
  | MessageOf<typeof ChangeMemberRole>
  | MessageOf<typeof RemoveMember>
  | MessageOf<typeof SetOrganizationLimits>
  | MessageOf<typeof CreateApiKey>
  | MessageOf<typeof RevokeApiKey>;
export type OrganizationEvent =
  | MessageOf<typeof OrganizationCreated>
  | MessageOf<typeof MemberAdded>
  | MessageOf<typeof MemberRoleChanged>
  | MessageOf<typeof MemberRemoved>
  | MessageOf<typeof OrganizationLimitsSet>
  | MessageOf<typeof ApiKeyCreated>
  | MessageOf<typeof ApiKeyRevoked>;

export interface OrganizationState {
  exists: boolean;
  members: Map<string, { email: string; role: Role }>;
  /** Key id → its digest, its role and whether it is still active. */
  keys: Map<string, { hash: string; role: Role; active: boolean }>;
}

/** An organization may hold this many active keys: enough for any team, bounded for the key cache. */
export const MAX_ACTIVE_KEYS = 100;

const owners = (state: OrganizationState) => [...state.members.values()].filter((m) => m.role === 'owner').length;

function evolve(state: OrganizationState, event: OrganizationEvent): OrganizationState {
  switch (event.type) {
    case 'OrganizationCreated':
      return { exists: true, members: new Map([[event.data.owner.memberId, { email: event.data.owner.email, role: 'owner' }]]), keys: new Map() };
    case 'MemberAdded':
      return { ...state, members: new Map(state.members).set(event.data.memberId, { email: event.data.email, role: event.data.role }) };
    case 'MemberRoleChanged': {
      const member = state.members.get(event.data.memberId)!;
      return { ...state, members: new Map(state.members).set(event.data.memberId, { ...member, role: event.data.role }) };
    }
    case 'MemberRemoved': {
      const members = new Map(state.members);
      members.delete(event.data.memberId);
      return { ...state, members };
    }
    case 'OrganizationLimitsSet':
      return state;
    case 'ApiKeyCreated':
      return { ...state, keys: new Map(state.keys).set(event.data.keyId, { hash: event.data.keyHash, role: event.data.role, active: true }) };
    case 'ApiKeyRevoked': {
      const key = state.keys.get(event.data.keyId)!;
      return { ...state, keys: new Map(state.keys).set(event.data.keyId, { ...key, active: false }) };
    }
    default:
      return assertNever(event);
  }
}

// Only an owner may make or unmake an owner; admins manage everyone else.
/** "An admin", "A member": a role with its article, for messages. */
const aOrAn = (role: Role) => `${/^[aeiou]/.test(role) ? 'An' : 'A'} ${role}`;

function mayAssign(requester: Role, role: Role) {
  return roleAtLeast(requester, 'admin') && (role !== 'owner' || requester === 'owner');
}

function decide(command: OrganizationCommand, state: OrganizationState): OrganizationEvent[] | ReturnType<typeof domainError> {
  if (command.type === 'CreateOrganization') {
    if (state.exists) return domainError('CONFLICT', 'This organization already exists.');
    const { orgId, slug, name, owner, requestedAt } = command.data;
    return [{ type: 'OrganizationCreated', data: { orgId, slug, name, owner, createdAt: requestedAt } }];
  }
  if (!state.exists) return domainError('NOT_FOUND', 'Organization not found.');
  switch (command.type) {
    case 'AddMember': {
      const { memberId, email, role, requesterRole, requestedAt } = command.data;
      if (!mayAssign(requesterRole, role)) return domainError('FORBIDDEN', `${aOrAn(requesterRole)} cannot add a member with the role ${role}.`);
      if ([...state.members.values()].some((m) => m.email.toLowerCase() === email.toLowerCase())) {
        return domainError('CONFLICT', `${email} is already a member of this organization.`);
      }
      return [{ type: 'MemberAdded', data: { memberId, email, role, addedAt: requestedAt } }];
    }
    case 'ChangeMemberRole': {
      const { memberId, role, requesterRole, requestedAt } = command.data;
      const member = state.members.get(memberId);
      if (!member) return domainError('NOT_FOUND', 'Member not found.');
      if (!mayAssign(requesterRole, role) || !mayAssign(requesterRole, member.role)) return domainError('FORBIDDEN', `${aOrAn(requesterRole)} cannot make this change.`);
      if (member.role === 'owner' && role !== 'owner' && owners(state) === 1) return domainError('CONFLICT', 'An organization keeps at least one owner.');
      if (member.role === role) return [];
      return [{ type: 'MemberRoleChanged', data: { memberId, role, changedAt: requestedAt } }];
    }
    case 'RemoveMember': {
      const { memberId, requesterRole, requestedAt } = command.data;
      const member = state.members.get(memberId);
      if (!member) return domainError('NOT_FOUND', 'Member not found.');
      if (!mayAssign(requesterRole, member.role)) return domainError('FORBIDDEN', `${aOrAn(requesterRole)} cannot remove ${aOrAn(member.role).toLowerCase()}.`);
      if (member.role === 'owner' && owners(state) === 1) return domainError('CONFLICT', 'An organization keeps at least one owner.');
      return [{ type: 'MemberRemoved', data: { memberId, removedAt: requestedAt } }];
    }
    case 'SetOrganizationLimits': {
      const { requestsPerHour, podCreatesPer15Min, requestedAt } = command.data;
      return [{ type: 'OrganizationLimitsSet', data: { requestsPerHour, podCreatesPer15Min, setAt: requestedAt } }];
    }
    case 'CreateApiKey': {
      const { keyId, name, keyHash, keyPreview, scopes, role, requesterRole, requesterScopes, requestedAt } = command.data;
      // A key can never carry more power than the key that made it: no stronger role, no scope it lacks.
      if (!roleAtLeast(requesterRole, role)) return domainError('FORBIDDEN', `${aOrAn(requesterRole)} key cannot create ${aOrAn(role).toLowerCase()} key.`);
      const lacking = scopes.filter((scope) => !requesterScopes.includes(scope));
      if (lacking.length > 0) return domainError('FORBIDDEN', `This key cannot grant scopes it does not have: ${lacking.join(', ')}.`);
      if (state.keys.has(keyId)) return domainError('CONFLICT', `API key ${keyId} already exists.`);
      // The same secret twice: an active one is already held (nothing to do); a revoked one is never reissued.
      const same = [...state.keys.values()].find((k) => k.hash === keyHash);
      if (same?.active) return [];
      if (same) return domainError('CONFLICT', 'That API key was revoked; a revoked key is never issued again.');
      const active = [...state.keys.values()].filter((k) => k.active).length;
      if (active >= MAX_ACTIVE_KEYS) return domainError('CONFLICT', `An organization can hold ${MAX_ACTIVE_KEYS} active API keys; revoke one first.`);
      return [{ type: 'ApiKeyCreated', data: { keyId, name, keyHash, keyPreview, scopes, role, createdAt: requestedAt } }];
    }
    case 'RevokeApiKey': {
      const key = state.keys.get(command.data.keyId);
      if (!key?.active) return domainError('NOT_FOUND', 'API key not found.');
      // Keys are the only way in (there is no sign-in): without an owner key nobody can manage the
      // organization's keys and owners again.
      const ownerKeys = [...state.keys.values()].filter((k) => k.active && k.role === 'owner').length;
      if (key.role === 'owner' && ownerKeys === 1) {
        return domainError('CONFLICT', "This is the organization's last owner key: without it nobody could manage its keys and owners. Create another owner key first, then revoke this one.");
      }
      return [{ type: 'ApiKeyRevoked', data: { keyId: command.data.keyId, revokedAt: command.data.requestedAt } }];
    }
    default:
      return assertNever(command);
  }
}

export const organizationDecider: Decider<OrganizationCommand, OrganizationEvent, OrganizationState> = {
  initialState: () => ({ exists: false, members: new Map(), keys: new Map() }),
  evolve,
  decide,
};
