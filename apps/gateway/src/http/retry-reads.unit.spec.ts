import { Controller, Get, Module, Post, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApiExceptionFilter } from './error-handling';
import { registerReadRetry } from './retry-reads';

/** What node-pg throws for a query on a session PostgreSQL ended. */
const sessionEnded = () => Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
let failures = 0;
let runs = 0;
/** One run of a handler: the next of `failures` runs fails as a lost session would, after that `answer`. */
const run = <T>(answer: T): T => {
  runs++;
  if (failures === 0) return answer;
  failures--;
  throw sessionEnded();
};

@Controller('things')
class ThingsController {
  @Get()
  list() {
    return run({ things: ['a'] });
  }

  @Get('broken')
  broken() {
    runs++;
    throw new TypeError('a bug, not the database');
  }

  @Post()
  create() {
    return run({ id: 'b' });
  }
}

@Module({ controllers: [ThingsController] })
class TestModule {}

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined } as never;
let app: INestApplication;
let url: string;

beforeAll(async () => {
  const nest = await NestFactory.create<NestFastifyApplication>(TestModule, new FastifyAdapter(), { logger: false });
  nest.useGlobalFilters(new ApiExceptionFilter(silent));
  registerReadRetry(nest.getHttpAdapter().getInstance());
  await nest.listen(0, '127.0.0.1');
  app = nest;
  const address = nest.getHttpServer().address() as { port: number };
  url = `http://127.0.0.1:${address.port}/things`;
});
afterAll(() => app?.close());
beforeEach(() => {
  runs = 0;
  failures = 0;
});

const call = async (path = '', method = 'GET') => {
  const r = await fetch(url + path, { method });
  return { status: r.status, body: await r.json() };
};

describe('a read whose database session ended under it (Nest on Fastify, the gateway’s filter)', () => {
  it('runs once more and answers what the second run found', async () => {
    failures = 1;
    expect(await call()).toEqual({ status: 200, body: { things: ['a'] } });
    expect(runs).toBe(2);
  });

  it('answers 503 when the second run fails too, without a third', async () => {
    failures = 2;
    expect(await call()).toMatchObject({ status: 503, body: { code: 'SERVICE_UNAVAILABLE' } });
    expect(runs).toBe(2);
  });

  it('runs a read that succeeds once, and one that fails otherwise once, answering its error', async () => {
    expect((await call()).status).toBe(200);
    expect(runs).toBe(1);
    expect(await call('/broken')).toMatchObject({ status: 500, body: { code: 'INTERNAL_ERROR' } });
    expect(runs).toBe(2);
  });

  it('never runs a write again', async () => {
    failures = 1;
    expect(await call('', 'POST')).toMatchObject({ status: 503, body: { code: 'SERVICE_UNAVAILABLE' } });
    expect(runs).toBe(1);
  });
});
