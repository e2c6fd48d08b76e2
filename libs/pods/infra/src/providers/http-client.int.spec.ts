import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderHttp } from './http-client';
import { ProviderUnavailableError } from './port';

// A real HTTP server whose answers the test scripts: status codes, or no answer at all.
let script: (number | 'hang')[] = [];
let calls = 0;
let server: http.Server;
let baseUrl: string;
beforeAll(async () => {
  server = http.createServer((req, res) => {
    calls++;
    const next = script.shift() ?? 200;
    if (next === 'hang') return; // the client's timeout ends it
    res.writeHead(next, { 'content-type': 'application/json' }).end(JSON.stringify({ n: calls }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));

const client = () => new ProviderHttp('lium', { baseUrl, timeoutMs: 200, retries: 2, backoffMs: 5, breakerThreshold: 2, breakerCooldownMs: 300 });

describe('provider HTTP client', () => {
  it('retries 5xx and timeouts, then succeeds; 4xx is answered at once', async () => {
    const c = client();
    script = [503, 'hang', 200];
    calls = 0;
    expect((await c.call('list', 'GET', '/x')).status).toBe(200);
    expect(calls).toBe(3);
    script = [404];
    calls = 0;
    expect((await c.call('describe', 'GET', '/x')).status).toBe(404);
    expect(calls).toBe(1);
  });

  it('opens its circuit after repeated failed calls, answers fast while open, and closes after a good probe', async () => {
    const c = client();
    script = Array(6).fill(500);
    calls = 0;
    for (let i = 0; i < 2; i++) await expect(c.call('create', 'POST', '/x', {})).rejects.toBeInstanceOf(ProviderUnavailableError);
    expect(calls).toBe(6);
    expect(c.available).toBe(false);
    await expect(c.call('create', 'POST', '/x', {})).rejects.toThrow(/circuit open/);
    expect(calls).toBe(6);
    await new Promise((r) => setTimeout(r, 350));
    // Half-open: one failed probe opens it again at once.
    script = [500, 500, 500];
    await expect(c.call('list', 'GET', '/x')).rejects.toBeInstanceOf(ProviderUnavailableError);
    expect(c.available).toBe(false);
    await new Promise((r) => setTimeout(r, 350));
    script = [];
    expect((await c.call('list', 'GET', '/x')).status).toBe(200);
    expect(c.available).toBe(true);
  });
});
