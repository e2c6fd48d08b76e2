import { ApiKeyCreated, ApiKeyRevoked, CreateApiKey, RevokeApiKey } from './api-keys';
import {
  AddMember,
  ChangeMemberRole,
  CreateOrganization,
  MemberAdded,
  MemberRemoved,
  MemberRoleChanged,
  OrganizationCreated,
  OrganizationLimitsSet,
  RemoveMember,
  SetOrganizationLimits,
} from './organizations';

export * from './access';
export * from './api-keys';
export * from './audit';
export * from './organizations';

/** Every event the identity context publishes. */
export const identityEvents = [OrganizationCreated, MemberAdded, MemberRoleChanged, MemberRemoved, OrganizationLimitsSet, ApiKeyCreated, ApiKeyRevoked] as const;
export const identityCommands = [CreateOrganization, AddMember, ChangeMemberRole, RemoveMember, SetOrganizationLimits, CreateApiKey, RevokeApiKey] as const;
