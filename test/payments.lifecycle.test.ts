import type { Pool } from 'pg';
import { findPaymentById, openWithRisk } from '../db/payments';
import { signPayload } from '../domain/signature';
import { card, eventually, newMerchant, useTestStack } from './support/stack';
import { expectLedgerConsistent } from './support/ledger';

const stack = useTestStack();

type Merchant = Awaited<ReturnType<typeof newMerchant>>;
const operations = async (m: Merchant, paymentId: string) =>
  (await m.api.get(`/sandbox/charges?payment_id=${paymentId}`)).body.data.map((c: { operation: string; amount: number }) => `${c.operation}:${c.amount}`);
const getPayment = (m: Merchant, id: string) => async () => (await m.api.get(`/v1/payments/${id}`)).body;

/**
 * Fails the first insert into `table` that matches `condition` (SQL on NEW), as a database that
 * goes away mid-write would; a sequence counts, since it is not rolled back with the write.
 * Answers the trigger's removal.
 */
async function failFirstWrite(pool: Pool, name: string, table: string, condition: string): Promise<() => Promise<void>> {
  await pool.query(`CREATE SEQUENCE IF NOT EXISTS ${name}`);
  await pool.query(`CREATE OR REPLACE FUNCTION ${name}() RETURNS trigger AS $$
    BEGIN
      IF ${condition} AND nextval('${name}') = 1 THEN RAISE EXCEPTION 'database went away'; END IF;
      RETURN NEW;
    END $$ LANGUAGE plpgsql`);
  await pool.query(`CREATE TRIGGER ${name} BEFORE INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION ${name}()`);
  return async () => void (await pool.query(`DROP TRIGGER ${name} ON ${table}`));
}

describe('cards', () => {
  test('tok_ok with automatic capture is captured synchronously, charged once, and owed to the merchant', async () => {
    const m = await newMerchant(stack());
    const res = await m.api.post('/v1/payments', { amount: 1999, currency: 'usd', payment_method: card() });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ object: 'payment', status: 'captured', amount: 1999, currency: 'USD', amount_captured: 1999, amount_capturable: 0, provider: 'sandbox' });
    expect(res.body.id).toMatch(/^pay_/);
    expect(res.body.payment_method).toEqual({ type: 'card' });
    expect(await operations(m, res.body.id)).toEqual(['authorize:1999', 'capture:1999']);
    expect((await m.api.get('/v1/balance')).body).toEqual({ object: 'balance', livemode: false, balances: [{ currency: 'USD', amount: 1999 }] });
    await expectLedgerConsistent(stack().pool, m.id);
  });

  test('automatic capture takes one provider call: the charge log shows both effects under their keys, the history one activity', async () => {
    const m = await newMerchant(stack());
    const p = (await m.api.post('/v1/payments', { amount: 1234, currency: 'USD', payment_method: card() })).body;
    expect(p.status).toBe('captured');
    const charges = (await m.api.get(`/sandbox/charges?payment_id=${p.id}`)).body.data.map((c: { operation: string; idempotency_key: string }) => `${c.operation}:${c.idempotency_key}`);
    expect(charges).toEqual([`authorize:${p.id}:authorize`, `capture:${p.id}:capture`]);
    const history = await stack().context.temporal.workflow.getHandle(`payment:${p.id}`).fetchHistory();
    const activities = history.events!.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => e.activityTaskScheduledEventAttributes!.activityType!.name);
    expect(activities).toEqual(['authorizeAtProvider']);
    // The status search attribute is set by the start, and upserted once more only when it changes (captured).
    const statusUpserts = history.events!.filter((e) => e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.PaymentStatus);
    expect(statusUpserts).toHaveLength(1);
    // A held authorization is still captured by its own call.
    const held = (await m.api.post('/v1/payments', { amount: 1234, currency: 'USD', payment_method: card(), capture_method: 'manual' })).body;
    await m.api.post(`/v1/payments/${held.id}/capture`, {});
    const heldHistory = await stack().context.temporal.workflow.getHandle(`payment:${held.id}`).fetchHistory();
    expect(heldHistory.events!.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => e.activityTaskScheduledEventAttributes!.activityType!.name))
      .toEqual(['authorizeAtProvider', 'captureAtProvider']);
  });

  test('the authorizing call writes the capture itself: no local activity after it, and a write that fails is retried without a second capture', async () => {
    const m = await newMerchant(stack());
    const markers = async (id: string) => (await stack().context.temporal.workflow.getHandle(`payment:${id}`).fetchHistory()).events!;
    const p = (await m.api.post('/v1/payments', { amount: 1500, currency: 'USD', payment_method: card() })).body;
    expect(p).toMatchObject({ status: 'captured', amount_captured: 1500, provider_reference: expect.any(String) });
    // No local activity at all: the opening and the capture are written by the call that made the capture.
    expect((await markers(p.id)).filter((e) => e.markerRecordedEventAttributes)).toHaveLength(0);
    expect((await m.api.get(`/v1/payments/${p.id}`)).body).toMatchObject({ status: 'captured', amount_captured: 1500, provider_reference: p.provider_reference });

    // The next capture write of this merchant fails once.
    const { pool } = stack();
    const restore = await failFirstWrite(pool, 'fail_capture_write_once', 'ledger_postings', `NEW.kind = 'capture' AND NEW.merchant_id = '${m.id}'`);
    try {
      const q = (await m.api.post('/v1/payments', { amount: 1700, currency: 'USD', payment_method: card() })).body;
      expect(q).toMatchObject({ status: 'captured', amount_captured: 1700 });
      const events = await markers(q.id);
      // The call ran twice, the second time under the same keys: one capture at the provider, one in the ledger.
      expect(events.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt)).toEqual([2]);
      expect(await operations(m, q.id)).toEqual(['authorize:1700', 'capture:1700']);
      expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'USD', amount: 3200 }]);
      const captured = await pool.query("SELECT count(*)::int AS n FROM events WHERE object_id = $1 AND type = 'payment.captured'", [q.id]);
      expect(captured.rows[0].n).toBe(1);
      await expectLedgerConsistent(pool, m.id);
    } finally {
      await restore();
    }
  });

  test('manual capture: authorized, then captured in full', async () => {
    const m = await newMerchant(stack());
    const created = await m.api.post('/v1/payments', { amount: 5000, currency: 'EUR', payment_method: card(), capture_method: 'manual' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ status: 'authorized', amount_capturable: 5000, amount_captured: 0 });
    expect((await m.api.get('/v1/balance')).body.balances).toEqual([]);
    const captured = await m.api.post(`/v1/payments/${created.body.id}/capture`, {});
    expect(captured.status).toBe(200);
    expect(captured.body).toMatchObject({ status: 'captured', amount_captured: 5000, amount_capturable: 0 });
    expect(await operations(m, created.body.id)).toEqual(['authorize:5000', 'capture:5000']);
    expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'EUR', amount: 5000 }]);
    await expectLedgerConsistent(stack().pool, m.id);
  });

  test('the risk decision that let the authorizing call reach the provider holds when the call is retried after the rules changed', async () => {
    const m = await newMerchant(stack());
    const { pool } = stack();
    // The capture write fails once, so the call runs a second time; meanwhile the merchant blocks every payment.
    const restore = await failFirstWrite(pool, 'fail_capture_write_after_rules', 'ledger_postings', `NEW.kind = 'capture' AND NEW.merchant_id = '${m.id}'`);
    try {
      // tok_slow: 2 s at the provider, time to change the rules while the first attempt is there.
      const creating = m.api.post('/v1/payments', { amount: 1900, currency: 'USD', payment_method: card('tok_slow') });
      const [decided] = await eventually(async () => (await pool.query('SELECT status, risk FROM payments WHERE merchant_id = $1', [m.id])).rows, (rows) => rows.length === 1 && rows[0].risk !== null);
      // Decided and kept with the opening, while the call is still at the provider.
      expect(decided).toMatchObject({ status: 'pending', risk: { decision: 'allow' } });
      expect((await m.api.post('/v1/risk/rules', { rules: [{ if: { amount_gte: 1 }, action: 'block' }] })).status).toBe(200);
      const p = (await creating).body;
      expect(p).toMatchObject({ status: 'captured', amount_captured: 1900, risk: { decision: 'allow' } });
      const started = (await stack().context.temporal.workflow.getHandle(`payment:${p.id}`).fetchHistory()).events!.filter((e) => e.activityTaskStartedEventAttributes);
      expect(started.map((e) => e.activityTaskStartedEventAttributes!.attempt)).toEqual([2]);
      expect(await operations(m, p.id)).toEqual(['authorize:1900', 'capture:1900']);
      // A new payment meets the new rules.
      const blocked = await m.api.post('/v1/payments', { amount: 1900, currency: 'USD', payment_method: card() });
      expect(blocked.status).toBe(402);
      expect(blocked.body.error).toMatchObject({ code: 'blocked_by_risk', payment: { status: 'failed' } });
      expect(await operations(m, blocked.body.error.payment.id)).toEqual([]);
      await expectLedgerConsistent(pool, m.id);
    } finally {
      await restore();
    }
  });

  test('an opening already written without a risk decision gets the first one made, and keeps it when asked again', async () => {
    const m = await newMerchant(stack());
    const { pool } = stack();
    const p = (await m.api.post('/v1/payments', { amount: 2200, currency: 'USD', payment_method: card(), capture_method: 'manual' })).body;
    // As an opening written by an older worker that stopped before it kept a decision.
    await pool.query('UPDATE payments SET risk = NULL WHERE id = $1', [p.id]);
    const opening = (await findPaymentById(pool, p.id))!;
    const review = { decision: 'review' as const, rules_matched: ['amount_gte'] };
    expect(await openWithRisk(pool, { ...opening, risk: review })).toEqual(review);
    expect(await openWithRisk(pool, { ...opening, risk: { decision: 'allow' as const, rules_matched: [] } })).toEqual(review);
    // The opening itself is not rewritten by a repeat: the row keeps its status and version.
    expect((await pool.query('SELECT status, version, risk FROM payments WHERE id = $1', [p.id])).rows).toEqual([{ status: 'authorized', version: opening.version, risk: review }]);
    // A new payment's opening is written with its decision in the same statement.
    const fresh = { ...opening, id: `${p.id}_fresh`, version: 1, risk: { decision: 'allow' as const, rules_matched: [] } };
    expect(await openWithRisk(pool, fresh)).toEqual(fresh.risk);
    expect((await pool.query('SELECT risk FROM payments WHERE id = $1', [fresh.id])).rows).toEqual([{ risk: fresh.risk }]);
  });

  test('an authorizing call that cannot write the opening asks no provider: the payment is opened by the local activity and goes on', async () => {
    const m = await newMerchant(stack());
    const { pool } = stack();
    const restore = await failFirstWrite(pool, 'fail_opening_write_once', 'payments', `NEW.merchant_id = '${m.id}'`);
    try {
      const p = (await m.api.post('/v1/payments', { amount: 2300, currency: 'USD', payment_method: card() })).body;
      expect(p).toMatchObject({ status: 'captured', amount_captured: 2300, risk: { decision: 'allow' } });
      const events = (await stack().context.temporal.workflow.getHandle(`payment:${p.id}`).fetchHistory()).events!;
      // The first call failed before asking anyone and was not retried; the local activity opened the payment.
      expect(events.filter((e) => e.activityTaskFailedEventAttributes).map((e) => e.activityTaskFailedEventAttributes!.failure!.cause?.applicationFailureInfo?.type ?? e.activityTaskFailedEventAttributes!.failure!.applicationFailureInfo?.type))
        .toEqual(['PaymentOpeningFailed']);
      expect(events.filter((e) => e.markerRecordedEventAttributes)).toHaveLength(1);
      expect(await operations(m, p.id)).toEqual(['authorize:2300', 'capture:2300']);
      await expectLedgerConsistent(pool, m.id);
    } finally {
      await restore();
    }
  });

  test('a capture of an authorization the read model has and the workflow has not replayed yet (its task lost with a worker) waits for it instead of a 409', async () => {
    const m = await newMerchant(stack());
    const { pool } = stack();
    // tok_slow: the provider takes 2 s to authorize, so the payment stays pending meanwhile.
    const creating = m.api.post('/v1/payments', { amount: 2100, currency: 'USD', payment_method: card('tok_slow'), capture_method: 'manual' });
    const opened = await eventually(async () => (await pool.query('SELECT id, version FROM payments WHERE merchant_id = $1', [m.id])).rows, (rows) => rows.length === 1);
    const id: string = opened[0].id;
    // The row held until the read model is ahead: the workflow's own write of the authorization
    // waits for it, so a loaded machine cannot let that write in first (2 s is all tok_slow gives).
    const lock = await pool.connect();
    try {
      await lock.query('BEGIN');
      expect((await lock.query('SELECT status FROM payments WHERE id = $1 FOR UPDATE', [id])).rows).toEqual([{ status: 'pending' }]);
      // Pending in both the read model and the workflow: refused at once, as the contract says.
      const early = await m.api.post(`/v1/payments/${id}/capture`, {});
      expect(early.status).toBe(409);
      expect(early.body.error).toMatchObject({ type: 'invalid_state', code: 'invalid_state' });
      // What a lost task's local activity leaves behind: the read model one version ahead of the workflow.
      await lock.query("UPDATE payments SET status = 'authorized', amount_capturable = 2100, version = version + 1 WHERE id = $1", [id]);
      await lock.query('COMMIT');
    } finally {
      lock.release();
    }
    const captured = await m.api.post(`/v1/payments/${id}/capture`, {});
    expect(captured.status).toBe(200);
    expect(captured.body).toMatchObject({ id, status: 'captured', amount_captured: 2100, amount_capturable: 0 });
    expect((await creating).body).toMatchObject({ id, status: 'authorized' });
    expect(await operations(m, id)).toEqual(['authorize:2100', 'capture:2100']);
    await expectLedgerConsistent(pool, m.id);
  });

  test('manual capture: a partial capture releases the rest; capturing again is invalid', async () => {
    const m = await newMerchant(stack());
    const created = await m.api.post('/v1/payments', { amount: 1000, currency: 'JPY', payment_method: card(), capture_method: 'manual' });
    const tooMuch = await m.api.post(`/v1/payments/${created.body.id}/capture`, { amount: 1001 });
    expect(tooMuch.status).toBe(400);
    expect(tooMuch.body.error).toMatchObject({ type: 'invalid_request_error', param: 'amount' });
    const captured = await m.api.post(`/v1/payments/${created.body.id}/capture`, { amount: 600 });
    expect(captured.body).toMatchObject({ status: 'captured', amount_captured: 600, amount_capturable: 0 });
    const again = await m.api.post(`/v1/payments/${created.body.id}/capture`, {});
    expect(again.status).toBe(409);
    expect(again.body.error.type).toBe('invalid_state');
    expect(await operations(m, created.body.id)).toEqual(['authorize:1000', 'capture:600']);
    expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'JPY', amount: 600 }]);
  });

  test('cancel voids an authorization; it can then be neither captured nor refunded', async () => {
    const m = await newMerchant(stack());
    const created = await m.api.post('/v1/payments', { amount: 700, currency: 'USD', payment_method: card(), capture_method: 'manual' });
    const canceled = await m.api.post(`/v1/payments/${created.body.id}/cancel`);
    expect(canceled.status).toBe(200);
    expect(canceled.body).toMatchObject({ status: 'canceled', amount_capturable: 0 });
    expect((await m.api.post(`/v1/payments/${created.body.id}/capture`, {})).status).toBe(409);
    expect((await m.api.post(`/v1/payments/${created.body.id}/cancel`)).status).toBe(409);
    expect((await m.api.post('/v1/refunds', { payment_id: created.body.id })).status).toBe(409);
    expect(await operations(m, created.body.id)).toEqual(['authorize:700', 'void:700']);
    expect((await m.api.get('/v1/balance')).body.balances).toEqual([]);
  });

  test.each([
    ['tok_decline', 'card_declined'],
    ['tok_insufficient_funds', 'insufficient_funds'],
  ])('%s fails with 402 and failure.code %s, and nothing is charged', async (token, code) => {
    const m = await newMerchant(stack());
    const res = await m.api.post('/v1/payments', { amount: 1200, currency: 'USD', payment_method: card(token) });
    expect(res.status).toBe(402);
    expect(res.body.error).toMatchObject({ type: 'payment_error', code });
    expect(res.body.error.payment).toMatchObject({ status: 'failed', failure: { code }, amount_captured: 0 });
    const stored = await m.api.get(`/v1/payments/${res.body.error.payment.id}`);
    expect(stored.body).toMatchObject({ status: 'failed', failure: { code } });
    expect(await operations(m, res.body.error.payment.id)).toEqual([]);
    const capture = await m.api.post(`/v1/payments/${res.body.error.payment.id}/capture`, {});
    expect(capture.status).toBe(409);
    expect(capture.body.error.type).toBe('invalid_state');
  });

  test('tok_flaky: the provider answers 503 twice, the payment still succeeds, charged once', async () => {
    const m = await newMerchant(stack());
    const res = await m.api.post('/v1/payments', { amount: 3100, currency: 'USD', payment_method: card('tok_flaky') });
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('captured');
    expect(await operations(m, res.body.id)).toEqual(['authorize:3100', 'capture:3100']);
  });

  test('tok_timeout: the first call times out after the provider charged; charged exactly once', async () => {
    const m = await newMerchant(stack());
    const res = await m.api.post('/v1/payments', { amount: 4200, currency: 'USD', payment_method: card('tok_timeout') });
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('captured');
    expect(await operations(m, res.body.id)).toEqual(['authorize:4200', 'capture:4200']);
    await expectLedgerConsistent(stack().pool, m.id);
  });

  test('tok_slow: every provider call takes 2 s, and the answer still comes synchronously', async () => {
    const m = await newMerchant(stack());
    const res = await m.api.post('/v1/payments', { amount: 999, currency: 'GBP', payment_method: card('tok_slow') });
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('captured');
    expect(await operations(m, res.body.id)).toEqual(['authorize:999', 'capture:999']);
  });

  test('tok_requires_action: 3-D Secure waits for the customer, then completes', async () => {
    const m = await newMerchant(stack());
    const res = await m.api.post('/v1/payments', { amount: 2500, currency: 'USD', payment_method: card('tok_requires_action') });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'requires_action', next_action: { type: 'redirect_to_url' }, amount_capturable: 0 });
    expect(Date.parse(res.body.next_action.expires_at)).toBeGreaterThan(Date.now());
    expect(await operations(m, res.body.id)).toEqual([]);
    const done = await m.api.post(`/sandbox/payments/${res.body.id}/complete`);
    expect(done.status).toBe(200);
    expect(done.body.status).toBe('captured');
    expect(await operations(m, res.body.id)).toEqual(['authorize:2500', 'capture:2500']);
    expect((await m.api.post(`/sandbox/payments/${res.body.id}/complete`)).status).toBe(409);
  });

  test('tok_requires_action then /fail: the payment fails, nothing charged', async () => {
    const m = await newMerchant(stack());
    const res = await m.api.post('/v1/payments', { amount: 2500, currency: 'USD', payment_method: card('tok_requires_action') });
    const failed = await m.api.post(`/sandbox/payments/${res.body.id}/fail`);
    expect(failed.body).toMatchObject({ status: 'failed', failure: { code: 'payment_method_action_failed' } });
    expect(await operations(m, res.body.id)).toEqual([]);
  });

  test('a payment waiting for the customer can be canceled', async () => {
    const m = await newMerchant(stack());
    const res = await m.api.post('/v1/payments', { amount: 800, currency: 'USD', payment_method: card('tok_requires_action') });
    const canceled = await m.api.post(`/v1/payments/${res.body.id}/cancel`);
    expect(canceled.body).toMatchObject({ status: 'canceled', next_action: null });
    expect((await m.api.post(`/sandbox/payments/${res.body.id}/complete`)).status).toBe(409);
    expect(await operations(m, res.body.id)).toEqual([]);
  });

  test('tok_refund_fails: captured, but the refund fails at the provider and nothing moves', async () => {
    const m = await newMerchant(stack());
    const res = await m.api.post('/v1/payments', { amount: 1500, currency: 'USD', payment_method: card('tok_refund_fails') });
    expect(res.body.status).toBe('captured');
    const refund = await m.api.post('/v1/refunds', { payment_id: res.body.id, amount: 500 });
    expect(refund.status).toBe(201);
    expect(refund.body).toMatchObject({ object: 'refund', status: 'failed', amount: 500, failure: { code: 'refund_failed' } });
    expect((await m.api.get(`/v1/payments/${res.body.id}`)).body).toMatchObject({ status: 'captured', amount_refunded: 0 });
    expect((await m.api.get(`/v1/refunds/${refund.body.id}`)).body.status).toBe('failed');
    expect(await operations(m, res.body.id)).toEqual(['authorize:1500', 'capture:1500']);
    expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'USD', amount: 1500 }]);
  });
});

describe('wallets and transfers', () => {
  test.each([
    ['alipay', 'display_qr_code'],
    ['wechat_pay', 'display_qr_code'],
    ['bank_transfer', 'bank_transfer_instructions'],
  ])('%s with tok_ok: requires_action (%s), then captured when the simulated customer pays', async (type, action) => {
    const m = await newMerchant(stack());
    const res = await m.api.post('/v1/payments', { amount: 8800, currency: 'CNY', payment_method: { type, token: 'tok_ok' }, channel: 'qr' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'requires_action', next_action: { type: action } });
    const done = await eventually(getPayment(m, res.body.id), (p) => p.status === 'captured');
    expect(done).toMatchObject({ amount_captured: 8800, next_action: null });
    expect(await operations(m, res.body.id)).toEqual(['authorize:8800', 'capture:8800']);
    await expectLedgerConsistent(stack().pool, m.id);
  });

  test('the sandbox notification is signed: a forged callback is refused with 400', async () => {
    const res = await fetch(`${stack().url}/webhooks/sandbox`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'sandbox-signature': `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}` },
      body: JSON.stringify({ id: 'evt_forged', type: 'payment.action_succeeded', payment_id: 'pay_x' }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_signature');
  });
});

describe('provider notifications', () => {
  const post = (body: string, signature: string) =>
    fetch(`${stack().url}/webhooks/sandbox`, { method: 'POST', headers: { 'content-type': 'application/json', 'sandbox-signature': signature }, body });

  test('duplicate and late notifications never regress a status or act twice', async () => {
    const m = await newMerchant(stack());
    const res = await m.api.post('/v1/payments', { amount: 2100, currency: 'USD', payment_method: card('tok_requires_action') });
    expect((await m.api.post(`/sandbox/payments/${res.body.id}/complete`)).body.status).toBe('captured');
    const late = JSON.stringify({ id: `evt_late_${res.body.id}`, type: 'payment.action_failed', payment_id: res.body.id });
    for (let i = 0; i < 2; i++) {
      const answer = await post(late, signPayload(stack().config.SANDBOX_WEBHOOK_SECRET!, late));
      expect(answer.status).toBe(200);
    }
    const after = (await m.api.get(`/v1/payments/${res.body.id}`)).body;
    expect(after).toMatchObject({ status: 'captured', amount_captured: 2100, failure: null });
    expect(await operations(m, res.body.id)).toEqual(['authorize:2100', 'capture:2100']);
    const seen = await stack().pool.query('SELECT count(*)::int AS n FROM provider_events WHERE event_id = $1', [`evt_late_${res.body.id}`]);
    expect(seen.rows[0].n).toBe(1);
  });

  test('a notification signed too long ago is refused', async () => {
    const body = JSON.stringify({ id: 'evt_old', type: 'payment.action_succeeded', payment_id: 'pay_x' });
    const answer = await post(body, signPayload(stack().config.SANDBOX_WEBHOOK_SECRET!, body, Math.floor(Date.now() / 1000) - 3600));
    expect(answer.status).toBe(400);
  });
});

describe('lists', () => {
  test('payments list newest first with limit, starting_after and filters', async () => {
    const m = await newMerchant(stack());
    const ids: string[] = [];
    for (const [i, token] of ['tok_ok', 'tok_decline', 'tok_ok'].entries()) {
      const res = await m.api.post('/v1/payments', { amount: 100 + i, currency: 'USD', payment_method: card(token), customer_id: i === 2 ? 'cus_42' : undefined });
      ids.push(res.status === 201 ? res.body.id : res.body.error.payment.id);
    }
    const first = await m.api.get('/v1/payments?limit=2');
    expect(first.body).toMatchObject({ object: 'list', has_more: true });
    expect(first.body.data.map((p: { id: string }) => p.id)).toEqual([ids[2], ids[1]]);
    const next = await m.api.get(`/v1/payments?limit=2&starting_after=${ids[1]}`);
    expect(next.body.data.map((p: { id: string }) => p.id)).toEqual([ids[0]]);
    expect(next.body.has_more).toBe(false);
    const failed = await m.api.get('/v1/payments?status=failed');
    expect(failed.body.data.map((p: { id: string }) => p.id)).toEqual([ids[1]]);
    const byCustomer = await m.api.get('/v1/payments?customer_id=cus_42');
    expect(byCustomer.body.data.map((p: { id: string }) => p.id)).toEqual([ids[2]]);
    expect((await m.api.get('/v1/payments?limit=0')).status).toBe(400);
    expect((await m.api.get('/v1/payments?limit=101')).body.error.param).toBe('limit');
  });
});

describe('operators', () => {
  test('payments are searchable in Temporal by merchant, status and customer', async () => {
    const m = await newMerchant(stack());
    const authorized = await m.api.post('/v1/payments', { amount: 300, currency: 'USD', payment_method: card(), capture_method: 'manual', customer_id: 'cus_search_1' });
    await m.api.post('/v1/payments', { amount: 400, currency: 'USD', payment_method: card() });
    const ids = async (query: string) => {
      const found: string[] = [];
      for await (const run of stack().context.temporal.workflow.list({ query })) found.push(run.workflowId);
      return found.sort();
    };
    const merchantRuns = await eventually(() => ids(`MerchantId = '${m.id}'`), (found) => found.length === 2);
    expect(merchantRuns).toHaveLength(2);
    expect(await eventually(() => ids(`MerchantId = '${m.id}' AND PaymentStatus = 'authorized'`), (f) => f.length === 1)).toEqual([`payment:${authorized.body.id}`]);
    expect(await eventually(() => ids(`CustomerId = 'cus_search_1'`), (f) => f.length === 1)).toEqual([`payment:${authorized.body.id}`]);
  });
});
