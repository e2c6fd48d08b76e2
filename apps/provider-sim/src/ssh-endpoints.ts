import net from 'node:net';

/** What an SSH server sends first (RFC 4253 §4.2); all a reachability check needs to see. */
const SSH_BANNER = 'SSH-2.0-OpenSSH_9.6 volt-provider-sim\r\n';

/** Ports for the instances' SSH endpoints: below Linux's ephemeral range, so they rarely collide. */
const FIRST_PORT = 20_000;
const LAST_PORT = 31_999;

/**
 * One TCP listener per instance, at the address and port its provider reports, so that SSH
 * reachability can be checked for real: it answers with an SSH banner while `answers(id)` says
 * the machine is up, and drops the connection otherwise (a machine that is off or unreachable).
 */
export class SshEndpoints {
  private readonly servers = new Map<string, net.Server>();
  private next = FIRST_PORT;

  constructor(
    private readonly bindHost: string,
    private readonly answers: (id: string) => 'up' | 'down' | 'gone',
  ) {}

  /** A port for a new instance (the listener may move it if it is taken: see `open`). */
  allocate(): number {
    const port = this.next;
    this.next = this.next >= LAST_PORT ? FIRST_PORT : this.next + 1;
    return port;
  }

  /** Listens for the instance; `moved` is told the port when the one asked for was taken. */
  open(id: string, port: number, moved: (port: number) => void, attempts = 20): void {
    const server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      const state = this.answers(id);
      if (state === 'gone') this.close(id);
      if (state === 'up') socket.end(SSH_BANNER);
      else socket.destroy();
    });
    server.on('error', (error: NodeJS.ErrnoException) => {
      if (this.servers.get(id) !== server) return;
      this.servers.delete(id);
      if ((error.code === 'EADDRINUSE' || error.code === 'EACCES') && attempts > 1) {
        const other = this.allocate();
        moved(other);
        this.open(id, other, moved, attempts - 1);
      }
    });
    this.servers.set(id, server);
    server.listen(port, this.bindHost);
  }

  close(id: string): void {
    const server = this.servers.get(id);
    if (!server) return;
    this.servers.delete(id);
    server.close();
  }

  closeAll(): void {
    for (const id of [...this.servers.keys()]) this.close(id);
  }
}
