import type { Migration } from 'kysely/migration';
import type { MessageDefinition } from '@volt/contracts';
import { billingEvents } from '@volt/billing-contracts';
import { billingMigrations, metersProjection } from '@volt/billing-infra';
import { eventStoreMigrations } from '@volt/event-store';
import { identityCommands, identityEvents } from '@volt/identity-contracts';
import { identityMigrations, identityProjections } from '@volt/identity-infra';
import { ledgerCommands, ledgerEvents } from '@volt/ledger-contracts';
import { ledgerMigrations, ledgerProjections } from '@volt/ledger-infra';
import { messagingMigrations } from '@volt/messaging/base';
import { podsCommands, podsEvents } from '@volt/pods-contracts';
import { podsMigrations, podsProjections } from '@volt/pods-infra';
import { projectionMigrations, type Projection } from '@volt/projections';

/**
 * Every migration of every context. The services share one database, so each one
 * (and volt-admin) runs them all at start; kysely's migration lock makes that safe.
 */
export const allMigrations: Record<string, Migration>[] = [eventStoreMigrations, messagingMigrations, projectionMigrations, identityMigrations, podsMigrations, ledgerMigrations, billingMigrations];

/** Every event and command Volt defines, for JSON Schema export and documentation. */
export const allMessages: MessageDefinition[] = [...identityEvents, ...identityCommands, ...podsEvents, ...podsCommands, ...ledgerEvents, ...ledgerCommands, ...billingEvents];

/** Every read model's projection, by name, for rebuilds. */
export const allProjections: Projection[] = [...identityProjections, ...podsProjections, ...ledgerProjections, metersProjection];
