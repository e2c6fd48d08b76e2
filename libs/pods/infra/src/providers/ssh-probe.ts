import net from 'node:net';

/**
 * Whether an SSH server answers at host:port: connects and waits for the server's
 * identification line (RFC 4253 §4.2: `SSH-2.0-…`, possibly after other lines). It logs in to
 * nothing; it tells a machine whose SSH is up from one that is booting, firewalled or broken.
 */
export function sshAnswers(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let received = '';
    let settled = false;
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      received += chunk;
      const lines = received.split('\n');
      if (lines.slice(0, -1).some((line) => line.startsWith('SSH-'))) done(true);
      else if (received.length > 8192) done(false);
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}
