import { connectNats, messagingNames } from '@volt/messaging/base';
import { discardDeadLetter, listDeadLetters, redriveDeadLetter, type DeadLetter } from '@volt/messaging/dead-letters';

function line(letter: DeadLetter, json: boolean): string {
  if (json) return JSON.stringify(letter);
  return `${String(letter.seq).padStart(6)}  ${letter.failedAt}  ${letter.pattern}  consumer ${letter.consumer}  after ${letter.deliveries} deliveries  stream seq ${letter.streamSequence ?? '-'}  id ${letter.messageId ?? '-'}\n        ${letter.error}`;
}

function sequences(args: string[]): number[] {
  return args.map((arg) => {
    const seq = Number(arg);
    if (!Number.isSafeInteger(seq) || seq < 1) throw new Error(`not a dead letter's seq: ${arg}`);
    return seq;
  });
}

/** `dead-letters`, `redrive`, `discard`: exit 1 when a seq named has no dead letter. */
export async function deadLetterVerb(verb: string, args: string[], opts: { all: boolean; json: boolean; limit?: number }, out: (text: string) => void): Promise<number> {
  if (verb !== 'dead-letters' && !opts.all && args.length === 0) throw new Error(`${verb} needs the seq of one or more dead letters${verb === 'redrive' ? ', or --all' : ''}`);
  if (verb === 'discard' && opts.all) throw new Error('discard takes seqs, not --all: look at each one first');
  const names = messagingNames(process.env.VOLT_NATS_PREFIX);
  const nc = await connectNats(process.env.NATS_URL ?? 'nats://127.0.0.1:4222', 'volt-admin', { timeout: 5_000, reconnect: false });
  try {
    if (verb === 'dead-letters') {
      const letters = await listDeadLetters(nc, names, opts.limit);
      if (letters.length === 0 && !opts.json) out('no dead letters');
      for (const letter of letters) out(line(letter, opts.json));
      return 0;
    }
    const seqs = opts.all ? (await listDeadLetters(nc, names, Number.MAX_SAFE_INTEGER)).map((l) => l.seq) : sequences(args);
    let missing = 0;
    for (const seq of seqs) {
      const letter = verb === 'redrive' ? await redriveDeadLetter(nc, names, seq) : await discardDeadLetter(nc, names, seq);
      if (!letter) {
        missing++;
        out(`no dead letter ${seq}`);
      } else out(`${verb === 'redrive' ? 'redriven' : 'discarded'} ${seq}: ${letter.pattern} for ${letter.consumer}`);
    }
    if (seqs.length === 0) out('no dead letters');
    return missing ? 1 : 0;
  } finally {
    await nc.drain().catch(() => undefined);
  }
}
