import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { FailureTypes } from '../domain/errors';
import { paymentWorkflowId, refundPaymentUpdate } from '../workflows/messages';
import { expectLedgerConsistent } from './support/ledger';
import { card, eventually, newMerchant, useTestStack } from './support/stack';

const EventType = temporal.api.enums.v1.EventType;

const stack = useTestStack();

const capturedPayment = async (amount: number, currency = 'USD') => {
  const m = await newMerchant(stack());
  const res = await m.api.post('/v1/payments', { amount, currency, payment_method: card() });
  expect(res.body.status).toBe('captured');
  return { m, payment: res.body };
};

test('partial refunds, then the remainder by default; the payment ends refunded', async () => {
  const { m, payment } = await capturedPayment(10_000);
  const first = await m.api.post('/v1/refunds', { payment_id: payment.id, amount: 2500, reason: 'requested_by_customer' });
  expect(first.status).toBe(201);
  expect(first.body).toMatchObject({ object: 'refund', payment_id: payment.id, amount: 2500, currency: 'USD', status: 'succeeded', reason: 'requested_by_customer' });
  expect(first.body.id).toMatch(/^re_/);
  expect((await m.api.get(`/v1/payments/${payment.id}`)).body).toMatchObject({ status: 'partially_refunded', amount_refunded: 2500 });

  const rest = await m.api.post('/v1/refunds', { payment_id: payment.id });
  expect(rest.body).toMatchObject({ amount: 7500, status: 'succeeded' });
  expect((await m.api.get(`/v1/payments/${payment.id}`)).body).toMatchObject({ status: 'refunded', amount_refunded: 10_000 });
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'USD', amount: 0 }]);
  const more = await m.api.post('/v1/refunds', { payment_id: payment.id, amount: 1 });
  expect(more.status).toBe(409);
  expect(more.body.error.type).toBe('invalid_state');

  const list = await m.api.get(`/v1/refunds?payment_id=${payment.id}`);
  expect(list.body.data.map((r: { id: string }) => r.id)).toEqual([rest.body.id, first.body.id]);
  expect((await m.api.get(`/v1/refunds/${first.body.id}`)).body).toEqual(first.body);
  const charges = (await m.api.get(`/sandbox/charges?payment_id=${payment.id}`)).body.data;
  expect(charges.filter((c: { operation: string }) => c.operation === 'refund').map((c: { amount: number }) => c.amount).sort()).toEqual([2500, 7500]);
  await expectLedgerConsistent(stack().pool, m.id);
});

test('over-refund answers 409 and changes nothing', async () => {
  const { m, payment } = await capturedPayment(1000);
  const over = await m.api.post('/v1/refunds', { payment_id: payment.id, amount: 1001 });
  expect(over.status).toBe(409);
  expect(over.body.error.type).toBe('invalid_state');
  await m.api.post('/v1/refunds', { payment_id: payment.id, amount: 600 });
  const again = await m.api.post('/v1/refunds', { payment_id: payment.id, amount: 401 });
  expect(again.status).toBe(409);
  expect((await m.api.get(`/v1/refunds?payment_id=${payment.id}`)).body.data).toHaveLength(1);
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'USD', amount: 400 }]);
});

test('a refusal names the version the payment refused at, so the API tells "behind" from "refused" without a query', async () => {
  const { payment } = await capturedPayment(1000);
  const handle = stack().context.temporal.workflow.getHandle(paymentWorkflowId(payment.id));
  const refused = await handle
    .executeUpdate(refundPaymentUpdate, { args: [{ refundId: `re_refused_${payment.id}`, amount: 5000, reason: null, createdAt: new Date().toISOString() }] })
    .then(() => undefined, (err: unknown) => err);
  expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
  const cause = (refused as WorkflowUpdateFailedError).cause as ApplicationFailure;
  expect(cause.type).toBe(FailureTypes.invalidState);
  // The read model's version, which the API compares it with (the public payment has none).
  const { rows } = await stack().pool.query<{ version: number }>('SELECT version FROM payments WHERE id = $1', [payment.id]);
  expect(cause.details).toEqual([{ version: rows[0]!.version }]);
});

test('refund of an uncaptured payment is invalid', async () => {
  const m = await newMerchant(stack());
  const res = await m.api.post('/v1/payments', { amount: 1000, currency: 'USD', payment_method: card(), capture_method: 'manual' });
  const refund = await m.api.post('/v1/refunds', { payment_id: res.body.id });
  expect(refund.status).toBe(409);
  expect(refund.body.error.type).toBe('invalid_state');
});

test('25 concurrent refunds racing on one payment never exceed the captured amount', async () => {
  const { m, payment } = await capturedPayment(10_000);
  // Each as a client following API.md: its own Idempotency-Key, and a 503 ("retry with the same key")
  // retried with it. Under this burst the server may abort an update (issue 20); the invariant must hold anyway.
  const refund = async (i: number) => {
    for (let attempt = 0; ; attempt++) {
      const res = await m.api.post('/v1/refunds', { payment_id: payment.id, amount: 700 }, { 'Idempotency-Key': `race-${payment.id}-${i}` });
      if (res.status !== 503 || attempt === 10) return res;
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const answers = await Promise.all(Array.from({ length: 25 }, (_, i) => refund(i)));
  const accepted = answers.filter((a) => a.status === 201 || a.status === 202);
  const refused = answers.filter((a) => a.status === 409);
  expect(accepted).toHaveLength(14); // 14 × 700 = 9800 ≤ 10 000 < 15 × 700
  expect(refused).toHaveLength(11);
  // A refund answered 202 (still working past SYNC_WAIT_MS) succeeds all the same.
  for (const a of accepted) await eventually(() => m.api.get(`/v1/refunds/${a.body.id}`).then((r) => r.body.status), (st) => st === 'succeeded');
  const after = (await m.api.get(`/v1/payments/${payment.id}`)).body;
  expect(after).toMatchObject({ status: 'partially_refunded', amount_refunded: 9800 });
  const charges = (await m.api.get(`/sandbox/charges?payment_id=${payment.id}`)).body.data;
  expect(charges.filter((c: { operation: string }) => c.operation === 'refund')).toHaveLength(14);
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'USD', amount: 200 }]);
  await expectLedgerConsistent(stack().pool, m.id);
  // A hang guard, not a speed limit: the 14 refunds go to the provider one after another.
}, 180_000);

test('a refund is taken within the workflow task that receives it, and refunds reach the provider one at a time, in that order', async () => {
  const { m, payment } = await capturedPayment(10_000);
  const answers = await Promise.all([1000, 2000, 3000, 4000].map((amount) => m.api.post('/v1/refunds', { payment_id: payment.id, amount })));
  for (const a of answers) expect([201, 202]).toContain(a.status);
  for (const a of answers) await eventually(() => m.api.get(`/v1/refunds/${a.body.id}`).then((r) => r.body.status), (st) => st === 'succeeded');

  const events = (await stack().context.temporal.workflow.getHandle(paymentWorkflowId(payment.id)).fetchHistory()).events ?? [];
  const accepted = events.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'refundPayment');
  expect(accepted).toHaveLength(4);
  for (const a of accepted) {
    // The update's completion follows its acceptance in the same task: no task boundary between them.
    const completed = events.find((e) => e.workflowExecutionUpdateCompletedEventAttributes?.acceptedEventId?.toString() === a.eventId?.toString())!;
    expect(completed).toBeDefined();
    const between = events.filter((e) => Number(e.eventId) > Number(a.eventId) && Number(e.eventId) < Number(completed.eventId));
    expect(between.map((e) => EventType[e.eventType!])).not.toContain('EVENT_TYPE_WORKFLOW_TASK_SCHEDULED');
  }
  const order = accepted.map((a) => a.workflowExecutionUpdateAcceptedEventAttributes!.acceptedRequest!.meta!.updateId);
  const charges = (await m.api.get(`/sandbox/charges?payment_id=${payment.id}`)).body.data as { operation: string; idempotency_key: string; created_at: string }[];
  const sent = charges.filter((c) => c.operation === 'refund').sort((a, b) => a.created_at.localeCompare(b.created_at));
  expect(sent.map((c) => c.idempotency_key)).toEqual(order.map((id) => `${payment.id}:refund:${id}`));
  expect((await m.api.get(`/v1/payments/${payment.id}`)).body).toMatchObject({ status: 'refunded', amount_refunded: 10_000 });
  await expectLedgerConsistent(stack().pool, m.id);
});

test('refunds of another merchant’s payment answer 404', async () => {
  const { payment } = await capturedPayment(1000);
  const other = await newMerchant(stack(), 'Other shop');
  const res = await other.api.post('/v1/refunds', { payment_id: payment.id });
  expect(res.status).toBe(404);
  expect(res.body.error.type).toBe('not_found');
});
