import { chromium } from 'playwright-core';
import { WechatPaySimulator, generateKeyPair, randomCertificateSerial, randomPublicKeyId } from '../simulators/wechat_pay/gateway';
import { expectAllLedgersConsistent } from './support/ledger';
import type { TestStack } from './support/stack';
import { ADMIN_KEY, client, eventually, newMerchant, startTestStack } from './support/stack';

// WeChat Pay end to end: the real SDK in the worker and the API, the real workflow, the local
// API v3 simulator (signed both ways, encrypted notifies on WeChat's retry schedule).
const MCHID = '1900000109';
const APPID = 'wxd678efh567hg6787';
const APIV3_KEY = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';
const merchant = generateKeyPair();
const platform = generateKeyPair();
const oldPlatform = generateKeyPair();
const MERCHANT_SERIAL = randomCertificateSerial();
const PUB_KEY_ID = randomPublicKeyId();
const OLD_SERIAL = randomCertificateSerial();
const ACTION_TTL_MS = 6000;

let sim: WechatPaySimulator;
let stack: TestStack;

beforeAll(async () => {
  sim = new WechatPaySimulator({
    mchid: MCHID, appid: APPID, merchantSerial: MERCHANT_SERIAL, merchantPublicKey: merchant.publicKey,
    platformSerial: PUB_KEY_ID, platformPrivateKey: platform.privateKey, apiV3Key: APIV3_KEY, notifyRetryScheduleMs: [200, 400, 800],
  });
  await sim.start();
  stack = await startTestStack({
    WECHATPAY_MCHID: MCHID, WECHATPAY_APPID: APPID, WECHATPAY_MERCHANT_SERIAL: MERCHANT_SERIAL, WECHATPAY_MERCHANT_PRIVATE_KEY: merchant.privateKey,
    // During a switch-over both the old platform certificate and the new public key verify.
    WECHATPAY_PLATFORM_KEYS: JSON.stringify({ [OLD_SERIAL]: oldPlatform.publicKey, [PUB_KEY_ID]: platform.publicKey }),
    WECHATPAY_APIV3_KEY: APIV3_KEY, WECHATPAY_BASE_URL: sim.baseUrl, WECHATPAY_TIMEOUT_MS: '1500', ACTION_TTL_MS: String(ACTION_TTL_MS),
  });
});

afterAll(async () => {
  try {
    if (stack) await expectAllLedgersConsistent(stack.pool);
  } finally {
    await stack?.stop();
    await sim?.stop();
  }
});

afterEach(() => sim.clearFaults());

const notifyUrl = () => `${stack.url}/webhooks/wechat_pay`;
const qr = (amount = 8800) => ({ amount, currency: 'CNY', payment_method: { type: 'wechat_pay' }, channel: 'qr' });

async function waitingPayment(amount = 8800) {
  const m = await newMerchant(stack);
  const res = await m.api.post('/v1/payments', qr(amount));
  expect(res.status).toBe(201);
  expect(res.body).toMatchObject({ status: 'requires_action', provider: 'wechat_pay', provider_reference: res.body.id, next_action: { type: 'display_qr_code' } });
  return { m, payment: res.body };
}

const captured = (m: Awaited<ReturnType<typeof newMerchant>>, id: string) => eventually(async () => (await m.api.get(`/v1/payments/${id}`)).body, (p) => p.status === 'captured');

describe('Native QR payments', () => {
  test('paid by the notify: captured once, the order ours at WeChat, the notify acknowledged with a 2xx', async () => {
    const { m, payment } = await waitingPayment();
    const order = sim.order(payment.id)!;
    expect(order).toMatchObject({ tradeType: 'NATIVE', tradeState: 'NOTPAY', total: 8800, notifyUrl: notifyUrl() });
    expect(payment.next_action.qr_code).toBe(order.codeUrl);
    sim.pay(payment.id, { openid: 'o_payer' });
    expect(await captured(m, payment.id)).toMatchObject({ amount_captured: 8800 });
    await eventually(async () => sim.notifications.filter((n) => n.outTradeNo === payment.id && n.delivered).length, (n) => n === 1);
    expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'CNY', amount: 8800 }]);
  });

  test('every notify lost: the workflow finds the payment by querying the order', async () => {
    const { m, payment } = await waitingPayment(1234);
    sim.injectFault({ kind: 'lose_notify', times: 10 });
    sim.pay(payment.id);
    expect(await captured(m, payment.id)).toMatchObject({ amount_captured: 1234 });
    expect(sim.notifications.filter((n) => n.outTradeNo === payment.id && n.delivered)).toHaveLength(0);
  });

  test('never paid: at expires_at the order is closed at WeChat and the payment canceled as expired', async () => {
    const { m, payment } = await waitingPayment(500);
    const done = await eventually(async () => (await m.api.get(`/v1/payments/${payment.id}`)).body, (p) => p.status === 'canceled', ACTION_TTL_MS + 20_000);
    expect(done.failure).toMatchObject({ code: 'expired' });
    expect(sim.order(payment.id)!.tradeState).toBe('CLOSED');
  });

  test('canceled while the customer pays: the order is paid, the payment captured, never both', async () => {
    const { m, payment } = await waitingPayment(700);
    sim.pay(payment.id);
    const res = await m.api.post(`/v1/payments/${payment.id}/cancel`, {});
    expect([200, 409]).toContain(res.status);
    expect(await captured(m, payment.id)).toMatchObject({ amount_captured: 700 });
    expect(sim.order(payment.id)!.tradeState).toBe('SUCCESS');
  });

  test('canceled before paying: closed at WeChat (204), and a later pay attempt is refused by WeChat', async () => {
    const { m, payment } = await waitingPayment(701);
    expect((await m.api.post(`/v1/payments/${payment.id}/cancel`, {})).body.status).toBe('canceled');
    expect(sim.order(payment.id)!.tradeState).toBe('CLOSED');
    expect(() => sim.pay(payment.id)).toThrow();
  });

  test('the notify arrives before the answer: one order, one payment, captured once', async () => {
    const m = await newMerchant(stack);
    sim.injectFault({ kind: 'notify_before_answer' });
    const res = await m.api.post('/v1/payments', qr(990));
    expect(['requires_action', 'captured']).toContain(res.body.status);
    expect(await captured(m, res.body.id)).toMatchObject({ amount_captured: 990 });
    expect(sim.orders().filter((o) => o.outTradeNo === res.body.id)).toHaveLength(1);
  });

  test('an order answer lost (SYSTEM_ERROR after the effect): sent again with the same out_trade_no, one order', async () => {
    const m = await newMerchant(stack);
    sim.injectFault({ kind: 'system_error', path: '/v3/pay/transactions/native', afterEffect: true });
    const res = await m.api.post('/v1/payments', qr(321));
    const p = res.status === 202 ? await eventually(async () => (await m.api.get(`/v1/payments/${res.body.id}`)).body, (x) => x.status === 'requires_action') : res.body;
    expect(p).toMatchObject({ status: 'requires_action', next_action: { type: 'display_qr_code' } });
    expect(sim.orders().filter((o) => o.outTradeNo === p.id)).toHaveLength(1);
    expect(sim.requests.filter((r) => r.path === '/v3/pay/transactions/native' && r.outTradeNo === p.id).length).toBeGreaterThanOrEqual(2);
  });
});

describe('refunds', () => {
  async function paid(amount = 10_000) {
    const { m, payment } = await waitingPayment(amount);
    sim.pay(payment.id);
    await captured(m, payment.id);
    return { m, payment };
  }

  test('partial refunds by out_refund_no = our refund id, never more than paid', async () => {
    const { m, payment } = await paid(10_000);
    expect((await m.api.post('/v1/refunds', { payment_id: payment.id, amount: 3000 })).body.status).toBe('succeeded');
    expect((await m.api.post('/v1/refunds', { payment_id: payment.id, amount: 2000 })).body.status).toBe('succeeded');
    expect((await m.api.post('/v1/refunds', { payment_id: payment.id, amount: 6000 })).status).toBe(409);
    expect(sim.order(payment.id)!.refunded).toBe(5000);
    const refunds = (await m.api.get(`/v1/refunds?payment_id=${payment.id}`)).body.data;
    for (const r of refunds) expect(sim.refund(r.id)).toMatchObject({ status: 'SUCCESS' });
    expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'CNY', amount: 5000 }]);
  });

  test('a refund PROCESSING stays pending, its amount reserved, until WeChat settles it (answer or REFUND.SUCCESS notify)', async () => {
    const { m, payment } = await paid(4000);
    sim.injectFault({ kind: 'refund_processing' });
    const refund = (await m.api.post('/v1/refunds', { payment_id: payment.id, amount: 4000 })).body;
    expect(refund.status).toBe('pending');
    expect((await m.api.post('/v1/refunds', { payment_id: payment.id, amount: 1 })).status).toBe(409);
    sim.settleRefund(refund.id, 'SUCCESS');
    await eventually(async () => (await m.api.get(`/v1/refunds/${refund.id}`)).body.status, (s) => s === 'succeeded');
    expect((await m.api.get(`/v1/payments/${payment.id}`)).body).toMatchObject({ status: 'refunded', amount_refunded: 4000 });
  });

  test('an ABNORMAL refund (the payer\'s account refused it) is flagged for an operator, its amount not refunded twice', async () => {
    const { m, payment } = await paid(2500);
    sim.injectFault({ kind: 'refund_processing' });
    const refund = (await m.api.post('/v1/refunds', { payment_id: payment.id, amount: 2500 })).body;
    sim.settleRefund(refund.id, 'ABNORMAL');
    const after = await eventually(async () => (await m.api.get(`/v1/refunds/${refund.id}`)).body, (r) => r.requires_attention === true || r.status === 'failed');
    expect(after.status === 'failed' || after.requires_attention).toBe(true);
    expect(sim.orders().find((o) => o.outTradeNo === payment.id)!.refunds).toHaveLength(1);
  });

  test('a refund answer lost (SYSTEM_ERROR after the effect): the retry finds the same refund, refunded once', async () => {
    const { m, payment } = await paid(6000);
    sim.injectFault({ kind: 'system_error', path: '/v3/refund/domestic/refunds', afterEffect: true });
    const res = await m.api.post('/v1/refunds', { payment_id: payment.id, amount: 2500 });
    const refund = res.status === 202 ? await eventually(async () => (await m.api.get(`/v1/refunds/${res.body.id}`)).body, (r) => r.status === 'succeeded') : res.body;
    expect(refund.status).toBe('succeeded');
    expect(sim.order(payment.id)!.refunded).toBe(2500);
    expect(sim.order(payment.id)!.refunds).toEqual([refund.id]);
  });
});

describe('notifications that must not move money', () => {
  const post = (n: { headers: Record<string, string>; body: string }) =>
    fetch(notifyUrl(), { method: 'POST', headers: n.headers, body: n.body }).then(async (r) => ({ status: r.status, body: await r.json().catch(() => ({})) }));

  test('forged, foreign, other-amount, skewed, probe and replayed notifies are refused; nothing is captured by them', async () => {
    const { m, payment } = await waitingPayment(8800);
    const paidResource: Record<string, unknown> = { ...sim.order(payment.id)!.transaction, trade_state: 'SUCCESS', transaction_id: '4200000000000000001', success_time: '2026-12-01T10:00:00+08:00' };
    const forged = sim.buildNotification('TRANSACTION.SUCCESS', paidResource, { signWith: generateKeyPair().privateKey });
    expect(await post(forged)).toMatchObject({ status: 401, body: { code: 'FAIL' } });
    const good = sim.buildNotification('TRANSACTION.SUCCESS', paidResource);
    const foreign = sim.buildNotification('TRANSACTION.SUCCESS', { ...paidResource, mchid: '1900000999' });
    expect(await post(foreign)).toMatchObject({ status: 400, body: { code: 'FAIL' } });
    const otherAmount = sim.buildNotification('TRANSACTION.SUCCESS', { ...paidResource, amount: { ...(paidResource.amount as object), total: 1 } });
    expect((await post(otherAmount)).status).toBe(400);
    const skewed = sim.buildNotification('TRANSACTION.SUCCESS', paidResource, { timestamp: Math.floor(Date.now() / 1000) - 301 });
    expect((await post(skewed)).status).toBe(401);
    const probe = { ...good, headers: { ...good.headers, 'Wechatpay-Signature': `WECHATPAY/SIGNTEST/${good.headers['Wechatpay-Signature']}` } };
    expect((await post(probe)).status).toBe(401);
    expect((await m.api.get(`/v1/payments/${payment.id}`)).body.status).toBe('requires_action');
    // A genuine notify of an order WeChat has not seen paid moves nothing either: the workflow asks WeChat first.
    expect((await post(good)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1000));
    expect((await m.api.get(`/v1/payments/${payment.id}`)).body.status).toBe('requires_action');
    // Paid for real (its own notifies lost): the same notify now captures it, once; its replay changes nothing.
    sim.injectFault({ kind: 'lose_notify', times: 10 });
    sim.pay(payment.id);
    const again = sim.buildNotification('TRANSACTION.SUCCESS', sim.order(payment.id)!.transaction);
    expect((await post(again)).status).toBe(200);
    await captured(m, payment.id);
    expect((await post(again)).status).toBe(200);
    expect((await m.api.get(`/v1/payments/${payment.id}`)).body).toMatchObject({ status: 'captured', amount_captured: 8800 });
  });
});

test('a notify whose ciphertext was altered and re-signed fails its GCM tag: refused, and the payment is found by asking WeChat', async () => {
  const { m, payment } = await waitingPayment(4321);
  sim.injectFault({ kind: 'tamper_notify' });
  sim.pay(payment.id);
  await captured(m, payment.id);
  // Every attempt of the tampered notify was refused (401); the payment was found by asking WeChat.
  const attempts = sim.notifications.filter((n) => n.outTradeNo === payment.id && n.tampered);
  expect(attempts.length).toBeGreaterThanOrEqual(1);
  expect(attempts.every((n) => !n.delivered && n.status === 401)).toBe(true);
});

test('JSAPI inside WeChat answers the signed client parameters; H5 needs the payer IP and answers the cashier URL', async () => {
  const m = await newMerchant(stack);
  const missing = await m.api.post('/v1/payments', { ...qr(100), channel: 'app' });
  expect([missing.status, missing.body.error.param]).toEqual([400, 'payment_method.token']);
  const jsapi = (await m.api.post('/v1/payments', { ...qr(100), channel: 'app', payment_method: { type: 'wechat_pay', token: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' } })).body;
  expect(jsapi.next_action).toMatchObject({ type: 'wechat_jsapi', jsapi_parameters: { appId: APPID, signType: 'RSA', package: expect.stringMatching(/^prepay_id=/) } });
  const { createVerify } = await import('node:crypto');
  const p = jsapi.next_action.jsapi_parameters;
  expect(createVerify('RSA-SHA256').update(`${p.appId}\n${p.timeStamp}\n${p.nonceStr}\n${p.package}\n`).verify(merchant.publicKey, p.paySign, 'base64')).toBe(true);
  const noIp = await m.api.post('/v1/payments', { ...qr(100), channel: 'phone' });
  expect([noIp.status, noIp.body.error.param]).toEqual([400, 'client_ip']);
  const h5 = (await m.api.post('/v1/payments', { ...qr(100), channel: 'phone', client_ip: '203.0.113.9' })).body;
  expect(h5.next_action).toMatchObject({ type: 'redirect_to_url', url: sim.order(h5.id)!.h5Url });
  const hkd = await m.api.post('/v1/payments', { ...qr(100), currency: 'HKD' });
  expect([hkd.status, hkd.body.error.param]).toEqual([400, 'currency']);
});

test('a customer scans the QR code in a real browser (Chromium) and pays: the payment is captured', async () => {
  const { m, payment } = await waitingPayment(6600);
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-background-networking'] });
  try {
    const page = await browser.newPage();
    await page.goto(payment.next_action.qr_code);
    expect(await page.textContent('body')).toContain('66.00');
    await page.click('button[type=submit]');
    await page.waitForLoadState();
    expect(sim.order(payment.id)!.tradeState).toBe('SUCCESS');
  } finally {
    await browser.close();
  }
  expect(await captured(m, payment.id)).toMatchObject({ amount_captured: 6600 });
});

test('reconciliation: a day of WeChat Pay trades against its gzip trade bill, fees booked, a missing trade and an unknown one', async () => {
  const m = await newMerchant(stack);
  const paid = async (amount: number) => {
    const p = (await m.api.post('/v1/payments', qr(amount))).body;
    sim.pay(p.id);
    return eventually(() => m.api.get(`/v1/payments/${p.id}`).then((r) => r.body), (x) => x.status === 'captured');
  };
  const [a, b] = [await paid(10_000), await paid(5000)];
  sim.injectBillDiscrepancy({ kind: 'missing_line', outTradeNo: b.id });
  sim.injectBillDiscrepancy({ kind: 'unknown_trade', amount: 4242 });
  const today = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(new Date());
  const admin = client(stack.url, ADMIN_KEY);
  const run = await admin.post('/v1/reconciliation/runs', { provider: 'wechat_pay', date: today, livemode: false });
  sim.clearBillDiscrepancies();
  expect(run.body).toMatchObject({ status: 'completed', provider: 'wechat_pay' });
  const items = (await m.api.get(`/v1/reconciliation/items?run_id=${run.body.id}`)).body.data as { status: string; payment_id: string }[];
  expect(items.filter((i) => i.payment_id === a.id).map((i) => i.status)).toEqual(['matched']);
  expect(items.filter((i) => i.payment_id === b.id).map((i) => i.status)).toEqual(['expected']);
  const unknown = (await admin.get(`/v1/reconciliation/items?run_id=${run.body.id}&status=missing_locally`)).body.data;
  expect(unknown.some((i: { reported: { gross: number }; requires_attention: boolean }) => i.reported.gross === 4242 && i.requires_attention)).toBe(true);
  // 0.6 % of the matched trade only.
  expect((await m.api.get('/v1/balance')).body.balances).toEqual([{ currency: 'CNY', amount: 15_000 - 60 }]);
});
