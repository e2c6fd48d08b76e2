import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SshChecks } from './ssh-checks';

// Two real TCP servers: one answers with an SSH identification line, one accepts and says nothing.
let answering: net.Server;
let silent: net.Server;
const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;
const listen = (s: net.Server) => new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
beforeAll(async () => {
  answering = net.createServer((socket) => socket.end('SSH-2.0-OpenSSH_9.6 test\r\n'));
  silent = net.createServer(() => undefined);
  await Promise.all([listen(answering), listen(silent)]);
});
afterAll(() => {
  answering.close();
  silent.close();
});

const pod = (id: string) => ({ pod_id: id, provider: 'lium' });

describe('SshChecks', () => {
  it('sees an answering machine within the look, and does not hold the caller for a silent one', async () => {
    const checks: boolean[] = [];
    const ssh = new SshChecks(600, ({ answered }) => void checks.push(answered));
    expect(await ssh.look(pod('pod_up'), '127.0.0.1', portOf(answering), 0, 250)).toMatchObject({ answered: true, misses: 0 });

    // The silent machine's check takes its 600 ms timeout; the look waits 20 ms and returns with nothing found yet.
    expect(await ssh.look(pod('pod_quiet'), '127.0.0.1', portOf(silent), 0, 20)).toEqual({ answered: false, misses: 0, firstMissAt: null });
    // Looking again while that check runs starts no second one.
    await ssh.look(pod('pod_quiet'), '127.0.0.1', portOf(silent), 0, 20);
    await new Promise((r) => setTimeout(r, 800));
    expect(checks).toEqual([true, false]);
    expect(ssh.found('pod_quiet')).toMatchObject({ answered: false, misses: 1, firstMissAt: expect.any(String) });

    // A new address starts over; forgotten pods are gone.
    expect(await ssh.look(pod('pod_quiet'), '127.0.0.1', portOf(answering), 0, 250)).toMatchObject({ answered: true, misses: 0, firstMissAt: null });
    ssh.retain(new Set(['pod_up']));
    expect(ssh.found('pod_quiet')).toBeUndefined();
  });

  it('checks again only `everyMs` after the last check ended, and runs at most `maxInFlight` at once', async () => {
    let started = 0;
    const ssh = new SshChecks(300, () => void started++, 2);
    for (const id of ['a', 'b', 'c']) await ssh.look(pod(id), '127.0.0.1', portOf(silent), 0, 0);
    await new Promise((r) => setTimeout(r, 500));
    expect(started).toBe(2);
    expect(ssh.found('c')).toMatchObject({ misses: 0 });

    await ssh.look(pod('a'), '127.0.0.1', portOf(answering), 60_000, 250);
    expect(started).toBe(3);
    await ssh.look(pod('a'), '127.0.0.1', portOf(answering), 60_000, 250);
    expect(started).toBe(3);
  });
});
