import { parseArgs } from 'node:util';
import { HELP } from './help';

const DEAD_LETTER_VERBS = new Set(['dead-letters', 'redrive', 'discard']);

/**
 * Parses the command line and hands it to the verb's module, loaded only then: `--help` loads
 * nothing else, the dead-letter verbs only NATS, the rest the store and the schema.
 */
async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      follow: { type: 'boolean' },
      limit: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      name: { type: 'string' },
      slug: { type: 'string' },
      email: { type: 'string' },
      'api-key': { type: 'string' },
      'if-exists': { type: 'string' },
      credit: { type: 'string' },
      'requests-per-hour': { type: 'string' },
      'pod-creates': { type: 'string' },
      org: { type: 'string' },
      usd: { type: 'string' },
      id: { type: 'string' },
      code: { type: 'string' },
      'max-redemptions': { type: 'string' },
      expires: { type: 'string' },
      'as-of': { type: 'string' },
      file: { type: 'string' },
      out: { type: 'string' },
      all: { type: 'boolean' },
    },
  });
  const [verb] = positionals;
  if (values.help || !verb) {
    process.stdout.write(HELP);
    return verb || values.help ? 0 : 2;
  }
  const verbs = () => require('./store-verbs') as typeof import('./store-verbs');
  if (verb === 'verify' && values.file !== undefined) return verbs().verifyFile(values.file, Boolean(values.json));
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) throw new Error('--limit is a whole number of at least 1');
  // Dead letters are on NATS, not in the database.
  if (DEAD_LETTER_VERBS.has(verb)) {
    const { deadLetterVerb } = require('./dead-letters') as typeof import('./dead-letters');
    return deadLetterVerb(verb, positionals.slice(1), { all: Boolean(values.all), json: Boolean(values.json), limit }, (text) => process.stdout.write(`${text}\n`));
  }
  return verbs().databaseVerb({ verb, positionals, values, limit });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`volt-admin: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
