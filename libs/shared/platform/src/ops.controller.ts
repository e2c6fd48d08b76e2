import { Controller, Get, Header, HttpCode, Inject, Res } from '@nestjs/common';
import { sql } from 'kysely';
import { metricsRegistry } from '@volt/telemetry';
import { RUNTIME, type VoltRuntime } from './runtime';

interface Reply {
  status(code: number): Reply;
  header(name: string, value: string): Reply;
  send(body: unknown): void;
}

/** /health, /ready and /metrics, as seed 003 shapes them. */
@Controller()
export class OpsController {
  constructor(@Inject(RUNTIME) private readonly runtime: VoltRuntime) {}

  @Get('health')
  async health(@Res() reply: Reply): Promise<void> {
    const database = await sql`SELECT 1`.execute(this.runtime.db).then(() => 'ok', () => 'unavailable');
    const nats = this.runtime.natsLink.connected ? 'ok' : 'unavailable';
    const ok = database === 'ok' && nats === 'ok' && this.runtime.ready;
    reply.status(ok ? 200 : 503).send({
      status: ok ? 'ok' : 'unavailable',
      timestamp: new Date().toISOString(),
      services: { lifecycle: this.runtime.ready ? 'running' : 'stopped', database, nats, ready: String(this.runtime.ready) },
    });
  }

  @Get('ready')
  ready(@Res() reply: Reply): void {
    reply.status(this.runtime.ready ? 200 : 503).send({ ready: this.runtime.ready, timestamp: new Date().toISOString() });
  }

  @Get('metrics')
  @HttpCode(200)
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  metrics(): Promise<string> {
    return metricsRegistry().metrics();
  }
}
