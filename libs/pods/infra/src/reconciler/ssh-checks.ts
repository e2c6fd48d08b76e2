import { sshAnswers } from '../providers/ssh-probe';

/** What the checks of one pod's SSH have found, at its current address. */
export interface SshFindings {
  /** The last check got an answer (false also before any check has ended). */
  answered: boolean;
  /** Checks in a row without an answer, and when the first of them started. */
  misses: number;
  firstMissAt: string | null;
}

interface Entry extends SshFindings {
  address: string;
  checking: boolean;
  endedAt: number;
}

/**
 * The reconciler's SSH checks, per pod. A check runs beside the sweep (at most `maxInFlight` at
 * once) and the sweep waits for it only briefly: a machine that answers is seen in the same sweep,
 * while a silent one, which takes the whole timeout, is seen at a later sweep instead of holding
 * this one up. Findings start over when the pod's address changes.
 */
export class SshChecks {
  private readonly pods = new Map<string, Entry>();
  private inFlight = 0;

  constructor(
    private readonly timeoutMs: number,
    private readonly onCheck: (check: { podId: string; provider: string; address: string; answered: boolean; misses: number; seconds: number }) => void,
    private readonly maxInFlight = 32,
  ) {}

  /**
   * Starts a check of `podId` at host:port unless one is running or the last one ended less than
   * `everyMs` ago (or too many are running), waits for it up to `waitMs`, and returns what the
   * checks have found so far.
   */
  async look(pod: { pod_id: string; provider: string }, host: string | null, port: number | null, everyMs: number, waitMs: number): Promise<SshFindings> {
    const address = `${host}:${port}`;
    let entry = this.pods.get(pod.pod_id);
    if (!entry || entry.address !== address) {
      entry = { address, answered: false, misses: 0, firstMissAt: null, checking: false, endedAt: -Infinity };
      this.pods.set(pod.pod_id, entry);
    }
    if (!entry.checking && Date.now() - entry.endedAt >= everyMs && this.inFlight < this.maxInFlight) {
      const checked = this.check(entry, pod, host, port);
      if (waitMs > 0) await Promise.race([checked, new Promise((r) => setTimeout(r, waitMs).unref())]);
    }
    return this.found(pod.pod_id)!;
  }

  /** What has been found of a pod's SSH so far, without checking again. */
  found(podId: string): SshFindings | undefined {
    const entry = this.pods.get(podId);
    return entry && { answered: entry.answered, misses: entry.misses, firstMissAt: entry.firstMissAt };
  }

  /** Forgets pods no longer alive. */
  retain(alive: Set<string>): void {
    for (const podId of this.pods.keys()) if (!alive.has(podId)) this.pods.delete(podId);
  }

  private async check(entry: Entry, pod: { pod_id: string; provider: string }, host: string | null, port: number | null): Promise<void> {
    const startedAt = new Date();
    entry.checking = true;
    this.inFlight++;
    try {
      const answered = host !== null && port !== null && (await sshAnswers(host, port, this.timeoutMs));
      entry.answered = answered;
      if (answered) {
        entry.misses = 0;
        entry.firstMissAt = null;
      } else if (entry.misses++ === 0) entry.firstMissAt = startedAt.toISOString();
      const seconds = (Date.now() - startedAt.getTime()) / 1000;
      this.onCheck({ podId: pod.pod_id, provider: pod.provider, address: entry.address, answered, misses: entry.misses, seconds });
    } finally {
      entry.checking = false;
      entry.endedAt = Date.now();
      this.inFlight--;
    }
  }
}
