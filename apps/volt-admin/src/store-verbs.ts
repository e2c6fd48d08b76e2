import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { START_OF_STORE, type EventEnvelope } from '@volt/contracts';
import { checkpointOf, createDatabase, EventStore, exportStore, migrateToLatest, sealNextRange, verifyExport, verifyStore, type Database, type VerifyReport } from '@volt/event-store';
import { connectNats, messagingNames } from '@volt/messaging/base';
import { ProjectionRunner } from '@volt/projections';
import { allMigrations, allProjections } from '@volt/schema';
import { followerLine, followers } from './followers';
import { HELP } from './help';
import { moneyVerb } from './money';
import { orgVerb } from './org';

/** What main parsed, for the verbs below. */
export interface Parsed {
  verb: string;
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
  limit?: number;
}

const text = (value: string | boolean | undefined) => (typeof value === 'string' ? value : undefined);

/** `verify --file`: an export checked where it is, without a database. */
export async function verifyFile(file: string, json: boolean): Promise<number> {
  return printReport(await verifyExport(readLines(file)), json);
}

/** Every verb that works on the database (DATABASE_URL). */
export async function databaseVerb({ verb, positionals, values, limit }: Parsed): Promise<number> {
  const [, arg] = positionals;
  const db = createDatabase(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/volt', { max: 2 });
  try {
    if (verb === 'org') {
      const org = {
        name: text(values.name),
        slug: text(values.slug),
        email: text(values.email),
        apiKey: text(values['api-key']),
        ifExists: text(values['if-exists']),
        credit: text(values.credit),
        requestsPerHour: text(values['requests-per-hour']),
        podCreates: text(values['pod-creates']),
        json: Boolean(values.json),
      };
      await migrateToLatest(db, ...allMigrations);
      return await announced(orgVerb(db, new EventStore(db), positionals.slice(1), org, (line) => process.stdout.write(`${line}\n`)));
    }
    if (verb === 'credit' || verb === 'voucher' || verb === 'balance') {
      const money = {
        org: text(values.org),
        usd: text(values.usd),
        id: text(values.id),
        code: text(values.code),
        maxRedemptions: text(values['max-redemptions']),
        expires: text(values.expires),
        asOf: text(values['as-of']),
        json: Boolean(values.json),
      };
      const run = () => moneyVerb(db, verb, positionals.slice(1), money, (line) => process.stdout.write(`${line}\n`));
      // balance only reads, and must not change the database it audits.
      if (verb === 'balance') return await run();
      await migrateToLatest(db, ...allMigrations);
      return await announced(run());
    }
    return await run(db, verb, arg, { json: Boolean(values.json), follow: Boolean(values.follow), limit, out: text(values.out) });
  } finally {
    await db.destroy();
  }
}

function line(event: EventEnvelope, json: boolean): string {
  if (json) return JSON.stringify(event);
  return `${event.position.padStart(8)}  ${event.occurredAt}  ${event.streamId}@${event.streamVersion}  ${event.type}  ${JSON.stringify(event.data)}`;
}

async function run(db: Database, verb: string, arg: string | undefined, opts: { json: boolean; follow: boolean; limit?: number; out?: string }): Promise<number> {
  const store = new EventStore(db);
  const out = (text: string) => process.stdout.write(`${text}\n`);
  switch (verb) {
    case 'migrate': {
      const applied = await migrateToLatest(db, ...allMigrations);
      out(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
      return 0;
    }
    case 'history': {
      if (!arg) return usage('history needs a stream id');
      const events = await store.readStream(arg);
      if (events.length === 0) out(`no events in stream ${arg}`);
      for (const e of events) out(line(e, opts.json));
      return 0;
    }
    case 'tail': {
      let cp = START_OF_STORE;
      let printed = 0;
      for (;;) {
        const batch = await store.readAll(cp, 1000);
        for (const e of batch) {
          out(line(e, opts.json));
          if (opts.limit && ++printed >= opts.limit) return 0;
        }
        if (batch.length) cp = checkpointOf(batch[batch.length - 1]);
        else if (!opts.follow) return 0;
        else await new Promise((r) => setTimeout(r, 200));
      }
    }
    case 'projections':
      for (const f of await followers(db, store, allProjections)) out(opts.json ? JSON.stringify(f) : followerLine(f));
      return 0;
    case 'rebuild': {
      if (!arg) return usage(`rebuild needs a projection: ${allProjections.map((p) => p.name).join(', ')}`);
      if (!allProjections.some((p) => p.name === arg)) return usage(`no projection named ${arg}; known: ${allProjections.map((p) => p.name).join(', ')}`);
      const started = Date.now();
      const n = await new ProjectionRunner(db, store, allProjections).rebuild(arg);
      out(`rebuilt ${arg} from ${n} events in ${Date.now() - started} ms`);
      return 0;
    }
    case 'seal': {
      let seals = 0;
      while (await sealNextRange(db)) seals++;
      out(`sealed ${seals} new range(s)`);
      return 0;
    }
    case 'verify':
      return printReport(await verifyStore(db), opts.json);
    case 'export': {
      const file = opts.out === undefined ? process.stdout : createWriteStream(opts.out, { flags: 'wx' });
      // A file that cannot be made (it exists, or its folder does not) is refused before anything is read.
      if (opts.out !== undefined) await once(file, 'open');
      // Waits for the file to take each line that filled its buffer: a large store is never held in memory.
      const write = (text: string) => (file.write(`${text}\n`) ? undefined : once(file, 'drain').then(() => undefined));
      const { events, seals } = await exportStore(db, write);
      if (opts.out !== undefined) {
        await new Promise<void>((resolve, reject) => file.end((error?: Error | null) => (error ? reject(error) : resolve())));
        out(`exported ${events} events and ${seals} sealed ranges to ${opts.out}`);
      }
      return 0;
    }
    default:
      return usage(`unknown verb "${verb}"`);
  }
}

function printReport(report: VerifyReport, json: boolean): number {
  const out = (text: string) => process.stdout.write(`${text}\n`);
  if (json) out(JSON.stringify(report));
  else if (report.ok) out(`ok: ${report.eventsChecked} events in ${report.streamsChecked} streams, ${report.sealsChecked} sealed ranges verified`);
  else {
    out(`TAMPERED: first bad position ${report.firstBadPosition ?? 'unknown'}`);
    for (const p of report.problems) out(`  position ${p.position ?? '-'}: ${p.kind}: ${p.detail}`);
  }
  return report.ok ? 0 : 1;
}

async function* readLines(file: string): AsyncGenerator<string> {
  yield* createInterface({ input: createReadStream(file), crlfDelay: Infinity });
}

/**
 * After a verb that wrote, tells running services so (the append signal, on NATS_URL with
 * VOLT_NATS_PREFIX), so that they look now rather than at their next poll. Best effort: with
 * NATS out of reach (within a second) they find the writes at that poll.
 */
async function announced(verb: Promise<number>): Promise<number> {
  const code = await verb;
  if (code !== 0) return code;
  const nc = await connectNats(process.env.NATS_URL ?? 'nats://127.0.0.1:4222', 'volt-admin', { timeout: 1_000, reconnect: false }).catch(() => undefined);
  if (nc) {
    nc.publish(messagingNames(process.env.VOLT_NATS_PREFIX).appendedSubject);
    await nc.drain().catch(() => undefined);
  }
  return code;
}

function usage(message: string): number {
  process.stderr.write(`volt-admin: ${message}\n\n${HELP}`);
  return 2;
}

