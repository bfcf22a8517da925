import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AlipayProvider } from '../providers/alipay/alipay.provider';
import { AlipayGateway, generateKeyPair } from '../simulators/alipay/gateway';
import { expectAllLedgersConsistent, expectLedgerConsistent } from './support/ledger';
import type { TestStack } from './support/stack';
import { ADMIN_KEY, client, eventually, newMerchant, startTestStack } from './support/stack';

/**
 * Full Alipay lifecycles: the real alipay-sdk in the worker, the real payment workflow, and
 * the local Alipay gateway simulator (RSA2 both ways, trade state, async notify with retries).
 */
const APP_ID = '2021000000000042';
const appKeys = generateKeyPair();
const alipayKeys = generateKeyPair();
const ACTION_TTL_MS = 6000;

let gateway: AlipayGateway;
let stack: TestStack;
/** What the gateway logged, e.g. a fault applied as a request arrived. */
const gatewayLog: Array<{ msg: string; fields?: Record<string, unknown> }> = [];

beforeAll(async () => {
  gateway = new AlipayGateway({
    appId: APP_ID, appPublicKey: appKeys.publicKey, alipayPrivateKey: alipayKeys.privateKey, notifyRetryScheduleMs: [200, 400, 800],
    // As at Alipay: a QR trade is unknown to query and close until the code is scanned.
    precreateNeedsScan: true,
    // Today's bill, for the reconciliation below (Alipay serves a day's bill once the day is over).
    billsBeforePeriodEnd: true,
    log: (msg, fields) => gatewayLog.push({ msg, fields }),
  });
  await gateway.start();
  stack = await startTestStack({
    ALIPAY_APP_ID: APP_ID,
    ALIPAY_PRIVATE_KEY: appKeys.privateKey,
    ALIPAY_PUBLIC_KEY: alipayKeys.publicKey,
    ALIPAY_GATEWAY: gateway.gatewayUrl,
    ALIPAY_TIMEOUT_MS: '1500',
    ACTION_TTL_MS: String(ACTION_TTL_MS),
  });
});

afterAll(async () => {
  try {
    if (stack) await expectAllLedgersConsistent(stack.pool);
  } finally {
    await stack?.stop();
    await gateway?.stop();
  }
});

afterEach(() => gateway.clearFaults());

const notifyUrl = () => `${stack.url}/webhooks/alipay`;
const alipay = (channel = 'qr') => ({ payment_method: { type: 'alipay' }, channel });

async function waitingPayment(amount = 8880, currency = 'CNY', channel = 'qr') {
  const m = await newMerchant(stack);
  const res = await m.api.post('/v1/payments', { amount, currency, ...alipay(channel) });
  expect(res.status).toBe(201);
  expect(res.body).toMatchObject({ status: 'requires_action', provider: 'alipay', provider_reference: res.body.id });
  return { m, payment: res.body };
}

const paymentOf = (m: Awaited<ReturnType<typeof newMerchant>>, id: string) => async () => (await m.api.get(`/v1/payments/${id}`)).body;
const requestsFor = (outTradeNo: string, method: string) => gateway.requests.filter((r) => r.outTradeNo === outTradeNo && r.method === method);

describe('QR payments (alipay.trade.precreate)', () => {
  test.each([
    ['CNY', 8880, '88.80'],
    ['HKD', 12_345, '123.45'],
    ['JPY', 500, '500'],
  ])('%s: the customer scans and pays, the signed notify completes the payment', async (currency, amount, alipayAmount) => {
    const { m, payment } = await waitingPayment(amount, currency);
    expect(payment.next_action).toMatchObject({ type: 'display_qr_code', expires_at: expect.any(String) });
    expect(payment.next_action.qr_code).toBe(gateway.trade(payment.id)?.qrCode);
    expect(gateway.trade(payment.id)).toMatchObject({ status: 'WAIT_BUYER_PAY', totalAmount: alipayAmount });

    gateway.pay(payment.id);
    const paid = await eventually(paymentOf(m, payment.id), (p) => p.status === 'captured');
    expect(paid).toMatchObject({ amount_captured: amount, next_action: null });
    const delivered = gateway.notifications.filter((n) => n.outTradeNo === payment.id && n.delivered);
    expect(delivered).toHaveLength(1);
    expect(delivered[0]?.answer).toBe('success');
    expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency, amount }]);
    const events = (await m.api.get(`/v1/events?object_id=${payment.id}`)).body.data.map((e: { type: string }) => e.type);
    expect(events).toEqual(expect.arrayContaining(['payment.requires_action', 'payment.captured']));
    await expectLedgerConsistent(stack.pool, m.id);
  });

  test('paid but every notification lost: the workflow finds it by polling trade.query', async () => {
    gateway.injectFault({ kind: 'lose_notify' });
    const { m, payment } = await waitingPayment();
    gateway.pay(payment.id);
    const paid = await eventually(paymentOf(m, payment.id), (p) => p.status === 'captured');
    expect(paid.amount_captured).toBe(8880);
    expect(gateway.notifications.filter((n) => n.outTradeNo === payment.id && n.delivered)).toEqual([]);
    expect(requestsFor(payment.id, 'alipay.trade.query').length).toBeGreaterThan(0);
  });

  test('never paid: at expires_at the trade is closed at Alipay and the payment canceled as expired', async () => {
    const { m, payment } = await waitingPayment();
    const expired = await eventually(paymentOf(m, payment.id), (p) => p.status !== 'requires_action', ACTION_TTL_MS + 20_000);
    expect(expired).toMatchObject({ status: 'canceled', failure: { code: 'expired' }, amount_captured: 0 });
    expect(Date.parse(expired.updated_at)).toBeGreaterThanOrEqual(Date.parse(payment.next_action.expires_at));
    expect(gateway.trade(payment.id)?.status).toBe('TRADE_CLOSED');
    // Alipay's own time_expire and our close race: either way the close call was made and the trade is closed.
    expect(requestsFor(payment.id, 'alipay.trade.close').length).toBeGreaterThan(0);
    expect(() => gateway.pay(payment.id)).toThrow(); // the QR code no longer takes money
  });

  test('canceled while the customer is paying: the close finds the trade paid, the payment is captured', async () => {
    const { m, payment } = await waitingPayment();
    expect((await fetch(payment.next_action.qr_code)).status).toBe(200); // scanned: Alipay knows the trade now
    gateway.injectFault({ kind: 'lose_notify' });
    gateway.pay(payment.id);
    const canceled = await m.api.post(`/v1/payments/${payment.id}/cancel`);
    expect(canceled.status).toBe(409); // too late: the customer's money is in
    expect(await eventually(paymentOf(m, payment.id), (p) => p.status === 'captured')).toMatchObject({ amount_captured: 8880 });
    // Closing, then voiding what looked like an authorization: Alipay refuses both, the trade is paid.
    const closes = requestsFor(payment.id, 'alipay.trade.close').map((r) => r.subCode);
    expect(closes.length).toBeGreaterThan(0);
    expect(new Set(closes)).toEqual(new Set(['ACQ.TRADE_STATUS_ERROR']));
    expect(gateway.trade(payment.id)).toMatchObject({ status: 'TRADE_SUCCESS', refunds: [] });
  });

  test('canceled while waiting on a scanned QR code: the trade is closed, a late payment is impossible', async () => {
    const { m, payment } = await waitingPayment();
    expect((await fetch(payment.next_action.qr_code)).status).toBe(200);
    const canceled = await m.api.post(`/v1/payments/${payment.id}/cancel`);
    expect(canceled.status).toBe(200);
    expect(canceled.body).toMatchObject({ status: 'canceled', amount_captured: 0 });
    expect(gateway.trade(payment.id)?.status).toBe('TRADE_CLOSED');
    expect(() => gateway.pay(payment.id)).toThrow();
    expect((await m.api.get('/v1/balance')).body.balances).toEqual([]);
  });

  test('the notification arrives before the synchronous answer: one payment, captured once', async () => {
    gateway.injectFault({ kind: 'notify_before_answer' });
    const m = await newMerchant(stack);
    const res = await m.api.post('/v1/payments', { amount: 4200, currency: 'CNY', ...alipay() });
    expect([201, 202]).toContain(res.status);
    const paid = await eventually(paymentOf(m, res.body.id), (p) => p.status === 'captured');
    expect(paid.amount_captured).toBe(4200);
    expect(requestsFor(res.body.id, 'alipay.trade.precreate')).toHaveLength(1);
    expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'CNY', amount: 4200 }]);
  });

  test('a precreate answer lost to a timeout: sent again with the same out_trade_no, one trade, one QR code', async () => {
    gateway.injectFault({ kind: 'slow', method: 'alipay.trade.precreate', delayMs: 3500 });
    const { m, payment } = await waitingPayment(3100);
    // The slow first answer is logged when the gateway finally sends it, after the retry's.
    await eventually(async () => requestsFor(payment.id, 'alipay.trade.precreate').length, (n) => n >= 2);
    expect(gateway.trades().filter((t) => t.outTradeNo === payment.id)).toHaveLength(1);
    expect(payment.next_action.qr_code).toBe(gateway.trade(payment.id)?.qrCode);
    gateway.pay(payment.id);
    await eventually(paymentOf(m, payment.id), (p) => p.status === 'captured');
    expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'CNY', amount: 3100 }]);
  });
});

test('web checkout (alipay.trade.page.pay): a signed cashier URL, the trade exists once the customer opens it', async () => {
  const m = await newMerchant(stack);
  const res = await m.api.post('/v1/payments', { amount: 1999, currency: 'CNY', ...alipay('web'), return_url: 'https://shop.example/thanks' });
  expect(res.status).toBe(201);
  const url = new URL(res.body.next_action.url);
  expect(res.body.next_action.type).toBe('redirect_to_url');
  expect(`${url.origin}${url.pathname}`).toBe(gateway.gatewayUrl);
  expect(url.searchParams.get('method')).toBe('alipay.trade.page.pay');
  expect(url.searchParams.get('sign')).toBeTruthy();
  expect(gateway.trade(res.body.id)).toBeUndefined(); // nothing is created before the customer arrives

  const cashier = await fetch(url);
  expect(cashier.status).toBe(200);
  expect(await cashier.text()).toContain('19.99');
  expect(gateway.trade(res.body.id)).toMatchObject({ status: 'WAIT_BUYER_PAY', product: 'page', totalAmount: '19.99' });
  gateway.pay(res.body.id);
  await eventually(paymentOf(m, res.body.id), (p) => p.status === 'captured');

  // A URL whose signed content was changed is refused by the gateway.
  url.searchParams.set('biz_content', url.searchParams.get('biz_content')!.replace('19.99', '0.01'));
  expect((await fetch(url)).status).toBe(400);
});

test('mobile web (alipay.trade.wap.pay) for phone and app channels', async () => {
  const m = await newMerchant(stack);
  for (const channel of ['phone', 'app']) {
    const res = await m.api.post('/v1/payments', { amount: 1000, currency: 'CNY', ...alipay(channel) });
    expect(res.body.next_action.type).toBe('redirect_to_url');
    expect(new URL(res.body.next_action.url).searchParams.get('method')).toBe('alipay.trade.wap.pay');
    expect((await fetch(res.body.next_action.url)).status).toBe(200);
    expect(gateway.trade(res.body.id)).toMatchObject({ product: 'wap', totalAmount: '10.00' });
    gateway.pay(res.body.id);
    await eventually(paymentOf(m, res.body.id), (p) => p.status === 'captured');
  }
});

test.each([
  ['an unscanned QR code scanned later', 'qr'],
  ['a cashier URL opened later', 'web'],
])('paid after it was canceled (%s): the money goes back to the customer in full, once', async (_what, channel) => {
  const m = await newMerchant(stack);
  const res = await m.api.post('/v1/payments', { amount: 2590, currency: 'CNY', ...alipay(channel) });
  // Canceled before the customer acted: Alipay has no trade to close yet.
  expect((await m.api.post(`/v1/payments/${res.body.id}/cancel`)).body.status).toBe('canceled');
  expect(requestsFor(res.body.id, 'alipay.trade.close').map((r) => r.subCode)).toEqual(['ACQ.TRADE_NOT_EXIST']);

  expect((await fetch(res.body.next_action.qr_code ?? res.body.next_action.url)).status).toBe(200);
  gateway.pay(res.body.id);
  const trade = await eventually(async () => gateway.trade(res.body.id), (t) => t?.refundedAmount === '25.90');
  expect(trade).toMatchObject({ status: 'TRADE_CLOSED', refunds: [expect.objectContaining({ outRequestNo: `${res.body.id}_late`, amount: '25.90' })] });
  await stack.context.temporal.workflow.getHandle(`late-payment-refund:${res.body.id}`).result();

  // Alipay's retries of that notify, and a new one, refund nothing more.
  const again = gateway.signNotification({
    notify_id: `late-again-${channel}`, notify_type: 'trade_status_sync', notify_time: '2026-11-25 12:00:00', app_id: APP_ID, charset: 'utf-8', version: '1.0',
    trade_no: trade!.tradeNo, out_trade_no: res.body.id, trade_status: 'TRADE_SUCCESS', total_amount: '25.90',
  });
  expect(await gateway.deliverNotification(notifyUrl(), again)).toBe('success');
  await new Promise((r) => setTimeout(r, 1500));
  expect(gateway.trade(res.body.id)?.refunds).toHaveLength(1);
  expect((await m.api.get(`/v1/payments/${res.body.id}`)).body).toMatchObject({ status: 'canceled', amount_captured: 0, amount_refunded: 0 });
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([]);
});

test('the customer pays while the cancel is on its way (Alipay had no trade to close): the payment ends canceled and the money goes back', async () => {
  const { m, payment } = await waitingPayment(3300);
  gateway.injectFault({ kind: 'slow', method: 'alipay.trade.close', delayMs: 1200 });
  const cancel = m.api.post(`/v1/payments/${payment.id}/cancel`);
  // The close has reached Alipay (which found no trade) and its answer is on the way back: now the customer pays.
  await eventually(async () => gatewayLog.some((l) => l.msg === 'fault applied' && l.fields?.method === 'alipay.trade.close'), Boolean);
  expect((await fetch(payment.next_action.qr_code)).status).toBe(200);
  gateway.pay(payment.id);
  expect((await cancel).body).toMatchObject({ status: 'canceled', amount_captured: 0 });
  expect(requestsFor(payment.id, 'alipay.trade.close').map((r) => r.subCode)).toEqual(['ACQ.TRADE_NOT_EXIST']);

  const trade = await eventually(async () => gateway.trade(payment.id), (t) => t?.refundedAmount === '33.00');
  expect(trade?.refunds).toEqual([expect.objectContaining({ outRequestNo: `${payment.id}_late`, amount: '33.00' })]);
  // The payment's own workflow held the notification when its cancel won: it started the refund.
  const late = await stack.context.temporal.workflow.getHandle(`late-payment-refund:${payment.id}`).describe();
  expect(late.raw.workflowExecutionInfo?.parentExecution?.workflowId).toBe(`payment:${payment.id}`);
  expect((await m.api.get(`/v1/payments/${payment.id}`)).body).toMatchObject({ status: 'canceled', amount_refunded: 0 });
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([]);
});

test('paid after it was canceled and every notification lost: the workflow watches until the QR code expires, finds it, refunds it', async () => {
  const { m, payment } = await waitingPayment(4400);
  expect((await m.api.post(`/v1/payments/${payment.id}/cancel`)).body.status).toBe('canceled'); // unscanned: nothing to close
  gateway.injectFault({ kind: 'lose_notify' });
  expect((await fetch(payment.next_action.qr_code)).status).toBe(200);
  gateway.pay(payment.id);
  const trade = await eventually(async () => gateway.trade(payment.id), (t) => t?.refundedAmount === '44.00', 20_000);
  expect(trade?.refunds).toEqual([expect.objectContaining({ outRequestNo: `${payment.id}_late` })]);
  expect(gateway.notifications.filter((n) => n.outTradeNo === payment.id && n.delivered && !n.outBizNo)).toEqual([]); // only the refund's came through
  const late = await stack.context.temporal.workflow.getHandle(`late-payment-refund:${payment.id}`).describe();
  expect(late.raw.workflowExecutionInfo?.parentExecution?.workflowId).toBe(`payment:${payment.id}`);
  expect((await m.api.get(`/v1/payments/${payment.id}`)).body).toMatchObject({ status: 'canceled', amount_captured: 0 });
});

test.each([
  ['an undocumented sub-code', 'ACQ.SOMETHING_NEW'],
  ['a prefixed system error', 'aop.ACQ.SYSTEM_ERROR'],
])('a refund answered with %s after Alipay refunded is confirmed by the refund query, never failed', async (_what, subCode) => {
  const { m, payment } = await waitingPayment(5000);
  gateway.pay(payment.id);
  await eventually(paymentOf(m, payment.id), (p) => p.status === 'captured');
  gateway.injectFault({ kind: 'system_error', method: 'alipay.trade.refund', afterEffect: true, subCode });
  const refund = await m.api.post('/v1/refunds', { payment_id: payment.id, amount: 1200 });
  expect(refund.body).toMatchObject({ status: 'succeeded', amount: 1200 });
  expect(gateway.trade(payment.id)?.refunds).toEqual([expect.objectContaining({ outRequestNo: refund.body.id, amount: '12.00' })]);
  // A new refund would have a new out_request_no: the amount refunded at Alipay equals ours.
  expect((await m.api.get(`/v1/payments/${payment.id}`)).body.amount_refunded).toBe(1200);
});

test('partial refunds: a SYSTEM_ERROR after Alipay refunded is retried with the same out_request_no and refunds once', async () => {
  const { m, payment } = await waitingPayment(10_000);
  gateway.pay(payment.id);
  await eventually(paymentOf(m, payment.id), (p) => p.status === 'captured');

  gateway.injectFault({ kind: 'system_error', method: 'alipay.trade.refund', afterEffect: true });
  const first = await m.api.post('/v1/refunds', { payment_id: payment.id, amount: 3000 });
  expect(first.status).toBe(201);
  expect(first.body).toMatchObject({ status: 'succeeded', amount: 3000 });
  const sent = gateway.requests.filter((r) => r.method === 'alipay.trade.refund' && r.outRequestNo === first.body.id);
  expect(sent.map((r) => r.subCode ?? r.code)).toEqual(['ACQ.SYSTEM_ERROR', '10000']);

  const second = await m.api.post('/v1/refunds', { payment_id: payment.id, amount: 2000 });
  expect(second.body).toMatchObject({ status: 'succeeded', amount: 2000 });
  expect((await m.api.get(`/v1/payments/${payment.id}`)).body).toMatchObject({ status: 'partially_refunded', amount_refunded: 5000 });
  expect(gateway.trade(payment.id)?.refunds.map((r) => [r.outRequestNo, r.amount])).toEqual([[first.body.id, '30.00'], [second.body.id, '20.00']]);

  const rest = await m.api.post('/v1/refunds', { payment_id: payment.id });
  expect(rest.body).toMatchObject({ status: 'succeeded', amount: 5000 });
  expect((await m.api.get(`/v1/payments/${payment.id}`)).body).toMatchObject({ status: 'refunded', amount_refunded: 10_000 });
  expect(gateway.trade(payment.id)).toMatchObject({ refundedAmount: '100.00', status: 'TRADE_CLOSED' });
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'CNY', amount: 0 }]);
  await expectLedgerConsistent(stack.pool, m.id);
});

test('a refund answer lost to a timeout: the same out_request_no again, Alipay refunds once', async () => {
  const { m, payment } = await waitingPayment(6000);
  gateway.pay(payment.id);
  await eventually(paymentOf(m, payment.id), (p) => p.status === 'captured');
  gateway.injectFault({ kind: 'slow', method: 'alipay.trade.refund', delayMs: 3500 });
  const refund = await m.api.post('/v1/refunds', { payment_id: payment.id, amount: 2500 });
  expect(refund.body).toMatchObject({ status: 'succeeded', amount: 2500 });
  await eventually(async () => gateway.requests.filter((r) => r.method === 'alipay.trade.refund' && r.outRequestNo === refund.body.id).length, (n) => n >= 2);
  expect(gateway.trade(payment.id)?.refunds).toEqual([expect.objectContaining({ outRequestNo: refund.body.id, amount: '25.00' })]);
  expect(gateway.requests.some((r) => r.method === 'alipay.trade.fastpay.refund.query' && r.outRequestNo === refund.body.id)).toBe(true);
});

describe('POST /webhooks/alipay trusts nothing but a genuine notify for our own trade', () => {
  const notifyFor = (payment: { id: string }, change: Record<string, string> = {}) => ({
    notify_time: '2026-11-25 12:00:00', notify_type: 'trade_status_sync', notify_id: `notify-${Math.random().toString(36).slice(2)}`,
    app_id: APP_ID, charset: 'utf-8', version: '1.0', trade_no: '2026112522001400000000000001', out_trade_no: payment.id,
    trade_status: 'TRADE_SUCCESS', total_amount: '88.80', gmt_payment: '2026-11-25 12:00:00', ...change,
  });
  const post = (params: Record<string, string>) =>
    fetch(notifyUrl(), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body: new URLSearchParams(params).toString() });

  test.each([
    ['signed with another key (forged)', (p: { id: string }) => forger.signNotification(notifyFor(p)), 'invalid_signature'],
    ['amount tampered after signing', (p: { id: string }) => ({ ...gateway.signNotification(notifyFor(p)), total_amount: '0.01' }), 'invalid_signature'],
    ['genuinely signed, another amount', (p: { id: string }) => gateway.signNotification(notifyFor(p, { total_amount: '0.01' })), 'amount_mismatch'],
    ['genuinely signed, another app_id', (p: { id: string }) => gateway.signNotification(notifyFor(p, { app_id: '2021000000009999' })), 'app_id_mismatch'],
    ['genuinely signed, a trade that is not ours', () => gateway.signNotification(notifyFor({ id: 'pay_someone_else' })), 'unknown_trade'],
    ['unsigned', (p: { id: string }) => notifyFor(p), 'invalid_signature'],
  ])('%s: 400, payment unchanged', async (_what, build, code) => {
    const { m, payment } = await waitingPayment();
    const res = await post(build(payment));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: unknown }).error).toMatchObject({ type: 'invalid_request_error', code });
    const after = await paymentOf(m, payment.id)();
    expect(after).toMatchObject({ status: 'requires_action', amount_captured: 0, updated_at: payment.updated_at });
    await m.api.post(`/v1/payments/${payment.id}/cancel`);
  });

  test('malformed notify bodies get a 4xx in the error shape, never a 500', async () => {
    const cases: Array<[string | Buffer, string, number]> = [
      ['', 'application/x-www-form-urlencoded', 400],
      ['%%%&&&=&sign=%ZZ', 'application/x-www-form-urlencoded', 400],
      [Buffer.from([0xff, 0xfe, 0x00, 0x41, 0x3d]), 'application/x-www-form-urlencoded; charset=gbk', 400],
      ['{"notify_id":"x"}', 'application/json', 400],
      ['a='.padEnd(200_000, 'x'), 'application/x-www-form-urlencoded', 413],
    ];
    for (const [body, type, status] of cases) {
      const res = await fetch(notifyUrl(), { method: 'POST', headers: { 'content-type': type }, body });
      expect(res.status).toBe(status);
      expect(((await res.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
    }
  });

  test('a genuine notify is answered `success`; its replays too, and they change nothing', async () => {
    gateway.injectFault({ kind: 'lose_notify' }); // only the notification below reaches us
    const { m, payment } = await waitingPayment();
    gateway.pay(payment.id); // Alipay's side must really be paid: capture confirms it by trade.query
    const genuine = gateway.signNotification(notifyFor(payment));
    expect(await gateway.deliverNotification(notifyUrl(), genuine)).toBe('success');
    const paid = await eventually(paymentOf(m, payment.id), (p) => p.status === 'captured');
    const eventsBefore = (await m.api.get(`/v1/events?object_id=${payment.id}`)).body.data.length;

    for (let i = 0; i < 3; i++) expect(await gateway.deliverNotification(notifyUrl(), genuine)).toBe('success');
    const after = await paymentOf(m, payment.id)();
    expect(after).toEqual(paid);
    expect((await m.api.get(`/v1/events?object_id=${payment.id}`)).body.data).toHaveLength(eventsBefore);
    const handed = await stack.pool.query('SELECT count(*)::int AS n FROM provider_events WHERE provider = $1 AND event_id = $2', ['alipay', genuine.notify_id]);
    expect(handed.rows[0].n).toBe(1);
  });

  test('duplicated notifications are all answered `success` and act once', async () => {
    gateway.injectFault({ kind: 'duplicate_notify' });
    const { m, payment } = await waitingPayment();
    gateway.pay(payment.id);
    await eventually(paymentOf(m, payment.id), (p) => p.status === 'captured');
    const attempts = gateway.notifications.filter((n) => n.outTradeNo === payment.id && n.tradeStatus === 'TRADE_SUCCESS');
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(attempts.every((n) => n.answer === 'success')).toBe(true);
    expect(new Set(attempts.map((n) => n.notifyId)).size).toBe(1);
  });
});

test('the simulator retries a notification, re-signed, until the receiver reads `success`', async () => {
  const answers = ['fail', 'success'];
  const received: Array<Record<string, string>> = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push(Object.fromEntries(new URLSearchParams(body)));
      res.end(answers.shift() ?? 'success');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  try {
    const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/notify`;
    const provider = new AlipayProvider({
      appId: APP_ID, privateKey: appKeys.privateKey, alipayPublicKey: alipayKeys.publicKey, gateway: gateway.gatewayUrl, notifyUrl: receiverUrl, timeoutMs: 2000,
    });
    const outTradeNo = `pay_retry_${Date.now()}`;
    const created = await provider.authorize({
      paymentId: outTradeNo, merchantId: 'mer_x', amount: 100, currency: 'CNY', method: { type: 'alipay' }, captureMethod: 'automatic', channel: 'qr',
      returnUrl: null, actionExpiresAt: new Date(Date.now() + 60_000).toISOString(), idempotencyKey: `${outTradeNo}:authorize`,
    });
    expect(created.status).toBe('requires_action');
    gateway.pay(outTradeNo);
    await eventually(async () => received.length, (n) => n >= 2, 10_000);
    await new Promise((r) => setTimeout(r, 1000)); // after `success`, nothing more comes
    expect(received).toHaveLength(2);
    expect(received[0]!.notify_id).toBe(received[1]!.notify_id);
    for (const notify of received) expect(provider.verifyNotification(Buffer.from(new URLSearchParams(notify).toString()))).toEqual(notify);
    expect(gateway.notifications.filter((n) => n.outTradeNo === outTradeNo).map((n) => n.answer)).toEqual(['fail', 'success']);
  } finally {
    await new Promise((resolve) => receiver.close(resolve));
  }
});

const forger = new AlipayGateway({ appId: APP_ID, appPublicKey: appKeys.publicKey, alipayPrivateKey: generateKeyPair().privateKey });

test('answers are verified: an answer not signed by Alipay\'s key is no answer', async () => {
  const { payment } = await waitingPayment();
  expect((await fetch(payment.next_action.qr_code)).status).toBe(200); // scanned, so Alipay knows the trade
  const misconfigured = new AlipayProvider({
    appId: APP_ID, privateKey: appKeys.privateKey, alipayPublicKey: generateKeyPair().publicKey, gateway: gateway.gatewayUrl, notifyUrl: notifyUrl(), timeoutMs: 2000,
  });
  await expect(misconfigured.getStatus({ paymentId: payment.id, reference: payment.id })).rejects.toMatchObject({ retryable: true, outcomeUnknown: true });
  const trusted = new AlipayProvider({
    appId: APP_ID, privateKey: appKeys.privateKey, alipayPublicKey: alipayKeys.publicKey, gateway: gateway.gatewayUrl, notifyUrl: notifyUrl(), timeoutMs: 2000,
  });
  expect(await trusted.getStatus({ paymentId: payment.id, reference: payment.id })).toEqual({ status: 'requires_action', reference: payment.id });
  // A request signed with a key Alipay does not know is refused, and never retried.
  const stranger = new AlipayProvider({
    appId: APP_ID, privateKey: generateKeyPair().privateKey, alipayPublicKey: alipayKeys.publicKey, gateway: gateway.gatewayUrl, notifyUrl: notifyUrl(), timeoutMs: 2000,
  });
  await expect(stranger.getStatus({ paymentId: payment.id, reference: payment.id })).rejects.toMatchObject({ retryable: false });
});

test('what Alipay cannot do is a 400 before anything is written', async () => {
  const m = await newMerchant(stack);
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ amount: 100, currency: 'CNY', ...alipay(), capture_method: 'manual' }, 'capture_method'],
    [{ amount: 100, currency: 'CNY', ...alipay('subscription') }, 'channel'],
    [{ amount: 100, currency: 'BRL', ...alipay() }, 'amount'],
    [{ amount: 10_000_000_001, currency: 'CNY', ...alipay() }, 'amount'],
    [{ amount: 100, currency: 'CNY', payment_method: { type: 'card' }, provider: 'alipay' }, 'payment_method.type'],
  ];
  for (const [body, param] of cases) {
    const res = await m.api.post('/v1/payments', body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param });
  }
  expect((await m.api.get('/v1/payments')).body.data).toEqual([]);
});

test('reconciliation: a day of Alipay trades against its GBK trade bill, fees booked, a difference found and resolved', async () => {
  const paid = async (amount: number) => {
    const { m, payment } = await waitingPayment(amount);
    gateway.pay(payment.id);
    await eventually(() => m.api.get(`/v1/payments/${payment.id}`).then((r) => r.body), (p) => p.status === 'captured');
    return { m, payment };
  };
  const { m, payment: p1 } = await paid(10_000);
  const p2 = (await m.api.post('/v1/payments', { amount: 20_000, currency: 'CNY', ...alipay() })).body;
  const p3 = (await m.api.post('/v1/payments', { amount: 30_000, currency: 'CNY', ...alipay() })).body;
  for (const p of [p2, p3]) {
    gateway.pay(p.id);
    await eventually(() => m.api.get(`/v1/payments/${p.id}`).then((r) => r.body), (x) => x.status === 'captured');
  }
  expect((await m.api.post('/v1/refunds', { payment_id: p2.id, amount: 5000 })).body.status).toBe('succeeded');
  gateway.injectBillDiscrepancy({ kind: 'amount', outTradeNo: p3.id, amount: '299.00' });

  const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(new Date());
  const admin = client(stack.url, ADMIN_KEY);
  const run = await admin.post('/v1/reconciliation/runs', { provider: 'alipay', date: today, livemode: false });
  gateway.clearBillDiscrepancies();
  expect(run.body).toMatchObject({ status: 'completed', provider: 'alipay', date: today });
  const items = (await m.api.get(`/v1/reconciliation/items?run_id=${run.body.id}`)).body.data as { id: string; status: string; payment_id: string; refund_id: string | null }[];
  const of = (id: string, refund = false) => items.filter((i) => i.payment_id === id && Boolean(i.refund_id) === refund).map((i) => i.status);
  expect([of(p1.id), of(p2.id), of(p2.id, true), of(p3.id)]).toEqual([['matched'], ['matched'], ['matched'], ['amount_mismatch']]);
  // 0.6 % kept on each matched trade, its share given back with the refund; none booked on the trade in question.
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'CNY', amount: 10_000 + 20_000 - 5000 + 30_000 - 60 - 120 + 30 }]);
  const mismatch = items.find((i) => i.status === 'amount_mismatch')!;
  const resolved = await admin.post(`/v1/reconciliation/items/${mismatch.id}/resolve`, { resolution: 'provider_adjusted', note: 'Alipay corrected its bill' });
  expect(resolved.body).toMatchObject({ resolution: 'provider_adjusted', note: 'Alipay corrected its bill' });
});
