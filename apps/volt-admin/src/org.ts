import { randomUUID } from 'node:crypto';
import type { Database, EventStore } from '@volt/event-store';
import { createOrganization, decideForOrganization, findOrganization, isWellFormedApiKey } from '@volt/identity-infra';
import { usdToMicros } from '@volt/ledger-contracts';
import { addCredit } from './money';
import { ORG_HELP } from './help';

function positiveUsd(usd: string): void {
  if (!(usdToMicros(usd) > 0)) throw new Error('--credit must be more than zero');
}

export interface OrgOptions {
  name?: string;
  slug?: string;
  email?: string;
  apiKey?: string;
  ifExists?: string;
  credit?: string;
  requestsPerHour?: string;
  podCreates?: string;
  json: boolean;
}

const limitOf = (value: string | undefined, current: number | null): number | null => {
  if (value === undefined) return current;
  if (value === 'default') return null;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`a limit is a whole number of at least 1, or "default" (got "${value}")`);
  return n;
};

/** `volt-admin org …`: operators bootstrap organizations without a dashboard. */
export async function orgVerb(db: Database, store: EventStore, args: string[], opts: OrgOptions, out: (text: string) => void): Promise<number> {
  const [sub, target] = args;
  switch (sub) {
    case 'create': {
      if (!opts.name) throw new Error('org create needs --name');
      if (opts.credit !== undefined) positiveUsd(opts.credit);
      if (opts.apiKey !== undefined && !isWellFormedApiKey(opts.apiKey)) throw new Error('--api-key must be volt_sk_live_ followed by 32-128 letters and digits');
      if (opts.ifExists !== undefined && opts.ifExists !== 'reuse') throw new Error('--if-exists takes only "reuse"');
      const org = await createOrganization(store, { name: opts.name, slug: opts.slug, ownerEmail: opts.email, apiKey: opts.apiKey, ifExists: opts.ifExists === 'reuse' ? 'reuse' : 'fail' });
      // The opening credit's id is the organization's, so re-running the command credits once.
      const credit = opts.credit !== undefined ? await addCredit(db, org.orgId, opts.credit, `opening-credit:${org.orgId}`) : undefined;
      if (opts.json) out(JSON.stringify({ org_id: org.orgId, slug: org.slug, api_key: org.apiKey, ...(credit ? { balance: credit.balance } : {}) }));
      else {
        out(`${org.created ? 'created' : 'reused'} organization ${org.slug} (${org.orgId})\nAPI key (shown once, store it now): ${org.apiKey}`);
        if (credit) out(`balance: ${credit.balance.toFixed(2)} USD`);
      }
      return 0;
    }
    case 'show': {
      const org = target ? await findOrganization(db, target) : undefined;
      if (!org) throw new Error(`no organization ${target ?? ''} (is the gateway running to build the read model?)`);
      out(JSON.stringify(org, null, opts.json ? 0 : 2));
      return 0;
    }
    case 'set-limits': {
      const org = target ? await findOrganization(db, target) : undefined;
      if (!org) throw new Error(`no organization ${target ?? ''}`);
      const commandId = randomUUID();
      const reply = await decideForOrganization(store, { commandId, orgId: org.orgId, actor: { type: 'system', id: 'volt-admin' }, correlationId: commandId }, {
        type: 'SetOrganizationLimits',
        data: {
          requestsPerHour: limitOf(opts.requestsPerHour, org.requestsPerHour),
          podCreatesPer15Min: limitOf(opts.podCreates, org.podCreatesPer15Min),
          requestedAt: new Date().toISOString(),
        },
      });
      if (!reply.ok) throw new Error(reply.error.message);
      out(`limits set for ${org.slug}`);
      return 0;
    }
    default:
      throw new Error(`org needs create, show or set-limits\n${ORG_HELP}`);
  }
}
