import { randomBytes } from 'node:crypto';
import { startService, type RunningService } from '@volt/platform';
import { allMigrations } from '@volt/schema';
import { TEST_NATS_URL, createTestDatabase, createTestMessaging, type TestDatabase, type TestMessaging } from '@volt/testing';
import { gatewayService } from '../../apps/gateway/src/gateway.service';
import { podsService } from '../../apps/pods/src/pods.service';

export interface TestStack {
  gateway: RunningService;
  pods: RunningService;
  apiKey: string;
  db: TestDatabase;
  messaging: TestMessaging;
  call(method: string, path: string, options?: { body?: unknown; rawBody?: string; headers?: Record<string, string>; key?: string | null }): Promise<{ status: number; body: any; headers: Headers }>;
  stop(): Promise<void>;
}

/** The gateway and the pods service in this process, on a database and NATS prefix of their own. */
export async function startStack(): Promise<TestStack> {
  const db = await createTestDatabase(allMigrations);
  const messaging = await createTestMessaging();
  const apiKey = `volt_test_${randomBytes(16).toString('hex')}`;
  const env = {
    DATABASE_URL: db.url,
    NATS_URL: TEST_NATS_URL,
    VOLT_NATS_PREFIX: messaging.prefix,
    PORT: '0',
    LOG_LEVEL: 'silent',
    VOLT_BOOTSTRAP_API_KEY: apiKey,
    VOLT_BOOTSTRAP_ORG_ID: 'org_e2e',
  };
  const pods = await startService(podsService, env);
  const gateway = await startService(gatewayService(env), env);
  return {
    gateway,
    pods,
    apiKey,
    db,
    messaging,
    async call(method, path, options = {}) {
      const headers: Record<string, string> = { ...(options.headers ?? {}) };
      if (options.key !== null) headers['x-api-key'] ??= options.key ?? apiKey;
      let body: string | undefined;
      if (options.rawBody !== undefined) body = options.rawBody;
      else if (options.body !== undefined) {
        body = JSON.stringify(options.body);
        headers['content-type'] ??= 'application/json';
      }
      const response = await fetch(`${gateway.url}${path}`, { method, headers, body });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        /* not JSON: keep the text */
      }
      return { status: response.status, body: parsed, headers: response.headers };
    },
    async stop() {
      await gateway.stop();
      await pods.stop();
      await messaging.cleanup();
      await db.drop();
    },
  };
}
