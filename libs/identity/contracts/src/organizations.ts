import { z } from 'zod';
import { defineCommand, defineEvent } from '@volt/contracts';
import { MemberIdSchema, OrgIdSchema, RoleSchema, SlugSchema } from './access';

const at = z.iso.datetime();
const Email = z.email().max(254);
const PositiveLimit = z.number().int().min(1).max(1_000_000_000);

export const OrganizationCreated = defineEvent(
  'identity',
  'OrganizationCreated',
  z.object({ orgId: OrgIdSchema, slug: SlugSchema, name: z.string(), owner: z.object({ memberId: MemberIdSchema, email: Email }), createdAt: at }),
);
export const MemberAdded = defineEvent('identity', 'MemberAdded', z.object({ memberId: MemberIdSchema, email: Email, role: RoleSchema, addedAt: at }));
export const MemberRoleChanged = defineEvent('identity', 'MemberRoleChanged', z.object({ memberId: MemberIdSchema, role: RoleSchema, changedAt: at }));
export const MemberRemoved = defineEvent('identity', 'MemberRemoved', z.object({ memberId: MemberIdSchema, removedAt: at }));
/** Per-organization limits; null means the gateway's default. */
export const OrganizationLimitsSet = defineEvent(
  'identity',
  'OrganizationLimitsSet',
  z.object({ requestsPerHour: PositiveLimit.nullable(), podCreatesPer15Min: PositiveLimit.nullable(), setAt: at }),
);

export const CreateOrganization = defineCommand(
  'identity',
  'CreateOrganization',
  z.object({ orgId: OrgIdSchema, slug: SlugSchema, name: z.string().min(1).max(100), owner: z.object({ memberId: MemberIdSchema, email: Email }), requestedAt: at }),
);
export const AddMember = defineCommand('identity', 'AddMember', z.object({ memberId: MemberIdSchema, email: Email, role: RoleSchema, requesterRole: RoleSchema, requestedAt: at }));
export const ChangeMemberRole = defineCommand('identity', 'ChangeMemberRole', z.object({ memberId: z.string(), role: RoleSchema, requesterRole: RoleSchema, requestedAt: at }));
export const RemoveMember = defineCommand('identity', 'RemoveMember', z.object({ memberId: z.string(), requesterRole: RoleSchema, requestedAt: at }));
export const SetOrganizationLimits = defineCommand(
  'identity',
  'SetOrganizationLimits',
  z.object({ requestsPerHour: PositiveLimit.nullable(), podCreatesPer15Min: PositiveLimit.nullable(), requestedAt: at }),
);

/** One organization's stream: the organization, its members and its API keys. */
export const organizationStream = (orgId: string) => `identity:org:${orgId}`;

// REST (seed 004's organizations, seed 001's /v1/orgs/{org_id}).
export const AddMemberBodySchema = z.strictObject({ email: Email, role: RoleSchema.default('member') }).meta({ id: 'AddMemberRequest' });
export const ChangeMemberBodySchema = z.strictObject({ role: RoleSchema }).meta({ id: 'ChangeMemberRequest' });

export const MemberSchema = z.object({ id: z.string(), email: z.string(), role: RoleSchema, added_at: z.string() }).meta({ id: 'Member' });
export type Member = z.infer<typeof MemberSchema>;
export const MemberListSchema = z.object({ members: z.array(MemberSchema), total: z.number().int() }).meta({ id: 'MemberList' });
export const MemberRemovedSchema = z.object({ id: z.string(), deleted: z.literal(true), message: z.string() }).meta({ id: 'MemberRemoved' });

export const OrganizationSchema = z
  .object({
    id: z.string(),
    slug: z.string(),
    name: z.string(),
    created_at: z.string(),
    limits: z.object({ requests_per_hour: z.number().int(), pod_creates_per_15_min: z.number().int() }),
    members: z.array(MemberSchema),
  })
  .meta({ id: 'Organization' });
export type Organization = z.infer<typeof OrganizationSchema>;
