// Every verb's help, kept apart from the verbs: `volt-admin --help` loads nothing else.
export const ORG_HELP = `  org create --name NAME [--slug SLUG] [--email OWNER] [--api-key KEY] [--if-exists reuse] [--credit USD] [--json]
                               create an organization and print its first (owner) API key;
                               --credit adds prepaid credit (once, even if run again);
                               --json prints {"org_id","slug","api_key"}
  org show <org-id|slug>       print an organization
  org set-limits <org-id|slug> [--requests-per-hour N|default] [--pod-creates N|default]
                               per-organization limits (pod creates are per 15 minutes)
`;

export const MONEY_HELP = `  balance <org-id|slug> [--as-of ISO-TIME]
                               an organization's balance replayed from the store's ledger
                               events; for the present, also checks the ledger's account rows
                               and the balance read model against it (exit 1 if either differs)
  credit add --org <org-id|slug> --usd AMOUNT [--id ID]
                               add prepaid credit (a ledger transfer from sys:deposits);
                               the same --id twice credits once
  voucher create --usd AMOUNT [--code CODE] [--max-redemptions N] [--expires ISO-TIME]
                               make a voucher code (each organization redeems it once)
`;

export const DEAD_LETTERS_HELP = `  dead-letters [--limit N]     list the commands and events a handler failed on every delivery
                               (VOLT_MAX_DELIVERIES), with the consumer, the error and the seq
  redrive <seq>... | --all     send dead letters back to the consumer that failed them (after the
                               cause is fixed; handlers are idempotent), removing each once sent
  discard <seq>...             drop dead letters for good
                               (these three use NATS_URL and VOLT_NATS_PREFIX, not the database)
`;

export const HELP = `volt-admin — audit and operate a Volt event store

Usage: volt-admin <verb> [options]        (DATABASE_URL picks the database)

Verbs:
  history <stream-id>          print a stream's events in order
  tail [--follow] [--limit N]  print the global order from the start (or follow it)
  rebuild <projection>         rebuild a read model from position 0 beside the one in use,
                               then swap it in (reads see the old model until then)
  projections [--json]         list the projections and the outbox relays: each one's stored
                               checkpoint, when it last moved, and how many events after it
                               are its to apply or publish
  verify [--file FILE]         check hash chains and sealed ranges; exit 1 naming the
                               first bad position when a row was altered, removed or reordered;
                               with --file, check an export instead (no database needed)
  export [--out FILE]          write every seal and event, in one snapshot, as JSON lines that
                               verify --file checks anywhere (stdout without --out)
  seal                         seal every complete range of the global order now
  migrate                      apply database migrations
${ORG_HELP}${MONEY_HELP}${DEAD_LETTERS_HELP}
Options:
  --json                       one JSON object per line instead of text
  -h, --help                   this text
`;
