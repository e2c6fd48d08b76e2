import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderHttp } from './http-client';
import { ProviderUnavailableError } from './port';

// A real HTTP server whose answers the test scripts: status codes, or no answer at all.
let script: (number | 'hang' | 'cut')[] = [];
let calls = 0;
let connections = 0;
const paths: string[] = [];
let server: http.Server;
let baseUrl: string;
beforeAll(async () => {
  server = http.createServer((req, res) => {
    calls++;
    paths.push(req.url ?? '');
    const next = script.shift() ?? 200;
    if (next === 'hang') return; // the client's timeout ends it
    // Half an answer, then the connection goes.
    if (next === 'cut') return res.writeHead(200, { 'content-length': '100' }).write('{"n":', () => res.destroy());
    res.writeHead(next, { 'content-type': 'application/json' }).end(JSON.stringify({ n: calls }));
  });
  server.on('connection', () => connections++);
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

  it('keeps its connection between calls, and puts the base URL path before each call path', async () => {
    const c = new ProviderHttp('lium', { baseUrl: `${baseUrl}/lium/`, timeoutMs: 200, retries: 0, backoffMs: 5, breakerThreshold: 5, breakerCooldownMs: 300 });
    script = [];
    connections = 0;
    paths.length = 0;
    for (let i = 0; i < 5; i++) expect(await c.ok('list', 'GET', `/instances?page=${i}`)).toEqual({ n: expect.any(Number) });
    expect(await c.ok('create', 'POST', '/instances', { gpus: 1 })).toEqual({ n: expect.any(Number) });
    expect(paths).toEqual([0, 1, 2, 3, 4].map((i) => `/lium/instances?page=${i}`).concat('/lium/instances'));
    expect(connections).toBe(1);
  });

  it('says which way an attempt failed: no answer in time, or an answer cut off', async () => {
    const c = new ProviderHttp('lium', { baseUrl, timeoutMs: 200, retries: 0, backoffMs: 5, breakerThreshold: 5, breakerCooldownMs: 300 });
    script = ['hang'];
    await expect(c.call('list', 'GET', '/x')).rejects.toThrow(/no answer within 200 ms/);
    script = ['cut'];
    await expect(c.call('list', 'GET', '/x')).rejects.toThrow(/network error: .*closed before the answer ended|network error: aborted/);
  });
});
