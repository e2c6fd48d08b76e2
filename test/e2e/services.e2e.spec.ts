import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type RunningService } from '@volt/platform';
import { allMigrations } from '@volt/schema';
import { TEST_NATS_URL, createTestDatabase, createTestMessaging, type TestDatabase, type TestMessaging } from '@volt/testing';
import { attestationService } from '../../apps/attestation/src/attestation.service';
import { billingService } from '../../apps/billing/src/billing.service';
import { fineTuneService } from '../../apps/fine-tune/src/fine-tune.service';
import { ledgerService } from '../../apps/ledger/src/ledger.service';

let db: TestDatabase;
let messaging: TestMessaging;
const running: RunningService[] = [];

beforeAll(async () => {
  db = await createTestDatabase(allMigrations);
  messaging = await createTestMessaging();
  const env = { DATABASE_URL: db.url, NATS_URL: TEST_NATS_URL, VOLT_NATS_PREFIX: messaging.prefix, PORT: '0', LOG_LEVEL: 'silent' };
  for (const definition of [billingService(), ledgerService(), fineTuneService, attestationService]) running.push(await startService(definition, env));
});
afterAll(async () => {
  for (const service of running) await service.stop();
  await messaging?.cleanup();
  await db?.drop();
});

describe('billing, ledger, fine-tune and attestation', () => {
  it('each boots on PostgreSQL and NATS and serves /health, /ready and /metrics in seed 003 shapes', async () => {
    expect(running.map((s) => s.runtime.service)).toEqual(['billing', 'ledger', 'fine-tune', 'attestation']);
    for (const service of running) {
      const health = await fetch(`${service.url}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({
        status: 'ok',
        timestamp: expect.any(String),
        services: { lifecycle: 'running', database: 'ok', nats: 'ok', ready: 'true' },
      });
      expect(await (await fetch(`${service.url}/ready`)).json()).toEqual({ ready: true, timestamp: expect.any(String) });
      expect(await (await fetch(`${service.url}/metrics`)).text()).toMatch(/^# HELP /m);
      // Anything else in the API's error body, not the framework's.
      for (const [method, path] of [['GET', '/nope'], ['POST', '/health']]) {
        const missing = await fetch(`${service.url}${path}`, { method });
        expect(missing.status).toBe(404);
        expect(await missing.json()).toEqual({ error: true, status: 404, message: expect.stringContaining('/health'), code: 'NOT_FOUND' });
      }
    }
  });

  it('show on /metrics how far behind the leading outbox relay and each running projection are, under a second while they keep up', async () => {
    const behind = async () => {
      const text = await (await fetch(`${running[1].url}/metrics`)).text();
      const seconds = (pattern: RegExp) => [...text.matchAll(pattern)].map((m) => ({ name: m[1], seconds: Number(m[2]) }));
      return { relays: seconds(/^volt_relay_behind_seconds\{relay="([^"]+)"\} (\S+)$/gm), projections: seconds(/^volt_projection_behind_seconds\{projection="([^"]+)"\} (\S+)$/gm) };
    };
    const deadline = Date.now() + 10_000;
    let seen = await behind();
    // One of the four services' relays leads; each service's runner follows its own projections.
    while ((seen.relays.length === 0 || seen.relays.some((r) => r.seconds >= 1)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      seen = await behind();
    }
    expect(seen.relays.map((r) => r.name)).toEqual(['outbox']);
    expect(seen.relays[0].seconds).toBeLessThan(1);
    expect(seen.projections.map((p) => p.name)).toEqual(expect.arrayContaining(['ledger.balances']));
    for (const p of seen.projections) expect(p.seconds).toBeLessThan(1);
  });

  it('answers /ready and /health with 503 while the service is not ready', async () => {
    const service = running[0];
    service.runtime.ready = false;
    try {
      const ready = await fetch(`${service.url}/ready`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ ready: false, timestamp: expect.any(String) });
      const health = await fetch(`${service.url}/health`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ status: 'unavailable', services: { lifecycle: 'stopped', ready: 'false' } });
    } finally {
      service.runtime.ready = true;
    }
  });
});
