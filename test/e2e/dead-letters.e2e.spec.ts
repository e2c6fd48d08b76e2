import { randomUUID } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discardDeadLetter, listDeadLetters } from '@volt/messaging';
import { eventually } from '../support/pods';
import { startStack, type TestStack } from '../support/stack';

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack({ env: { VOLT_MAX_DELIVERIES: '2' } });
});
afterAll(() => stack?.stop());

describe('dead letters in a running stack', () => {
  it('sets aside an event the pods service cannot handle, with the handler’s own error, and keeps serving', async () => {
    const { nc, names } = stack.messaging;
    const id = randomUUID();
    // A BalanceExhausted without its tenant: the pods service's handler refuses its data every time.
    await jetstream(nc).publish(names.eventSubject('billing', 'BalanceExhausted'), JSON.stringify({ id, type: 'BalanceExhausted', data: {} }), { msgID: id });
    const letter = await eventually('the dead letter', async () => (await listDeadLetters(nc, names)).find((l) => l.messageId === id));
    expect(letter).toMatchObject({ pattern: 'volt.evt.billing.BalanceExhausted', consumer: 'pods-evt-billing-BalanceExhausted', deliveries: 2 });
    // Not Nest's "Internal server error": the zod error naming the missing field.
    expect(letter.error).toMatch(/^ZodError: .*tenantId/);
    const metrics = await (await fetch(`${stack.pods.url}/metrics`)).text();
    expect(metrics).toMatch(/^volt_messages_handled_total\{pattern="volt\.evt\.billing\.BalanceExhausted",outcome="dead_lettered"\} 1$/m);
    expect(metrics).toMatch(/^volt_dead_letters\{pattern="volt\.evt\.billing\.BalanceExhausted"\} 1$/m);

    // The service carries on: its pods API answers and it is ready.
    expect((await stack.call('GET', '/api/volt/pods')).status).toBe(200);
    expect((await fetch(`${stack.pods.url}/ready`)).status).toBe(200);
    expect(await discardDeadLetter(nc, names, letter.seq)).toMatchObject({ messageId: id });
    expect(await (await fetch(`${stack.pods.url}/metrics`)).text()).not.toMatch(/^volt_dead_letters\{/m);
  });
});
