import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Aes, Formatter, Rsa, Wechatpay } from 'wechatpay-axios-plugin';
import { WechatPaySimulator, WechatPaySimulatorError, generateKeyPair, randomCertificateSerial, randomPublicKeyId } from '../simulators/wechat_pay/gateway';
import type { WechatPaySimulatorOptions } from '../simulators/wechat_pay/gateway';
import type { Delivery, Receiver } from './support/receiver';
import { startReceiver } from './support/receiver';

/**
 * The WeChat Pay simulator driven by the real `wechatpay-axios-plugin` client: it signs our
 * requests and verifies the simulator's answers exactly as it would WeChat Pay's. No Temporal,
 * no database.
 */

const MCHID = '1900000109';
const APPID = 'wxd678efh567hg6787';
const merchant = generateKeyPair();
const platform = generateKeyPair();
const stranger = generateKeyPair();
const MERCHANT_SERIAL = randomCertificateSerial();
const PLATFORM_SERIAL = randomCertificateSerial();
const APIV3_KEY = randomBytes(16).toString('hex');

/* eslint-disable @typescript-eslint/no-explicit-any -- answers and notifies are arbitrary JSON */
type Answer = { status: number; data: any; headers: Record<string, any> };
type Endpoint = { get(config?: object): Promise<Answer>; post(data: object, config?: object): Promise<Answer> };
type Refusal = { status?: number; code?: string; data: any };
/* eslint-enable @typescript-eslint/no-explicit-any */

const options = (over: Partial<WechatPaySimulatorOptions> = {}): WechatPaySimulatorOptions => ({
  mchid: MCHID, appid: APPID, merchantSerial: MERCHANT_SERIAL, merchantPublicKey: merchant.publicKey,
  platformSerial: PLATFORM_SERIAL, platformPrivateKey: platform.privateKey, apiV3Key: APIV3_KEY,
  notifyRetryScheduleMs: [100, 100, 100], notifyTimeoutMs: 2000, ...over,
});

/** The SDK's client, configured as a merchant would, pointed at the simulator by `baseURL`. */
function client(sim: WechatPaySimulator, over: { privateKey?: string; certs?: Record<string, string> } = {}): Wechatpay {
  return new Wechatpay({
    mchid: MCHID, serial: MERCHANT_SERIAL, privateKey: over.privateKey ?? merchant.privateKey,
    certs: over.certs ?? { [PLATFORM_SERIAL]: platform.publicKey }, baseURL: sim.baseUrl,
  });
}

/** `v3/pay/transactions/native` walks the SDK's chain (`wx.v3.pay.transactions.native`); `{name}` segments are filled from the config. */
function api(wx: Wechatpay, path: string): Endpoint {
  return path.split('/').reduce<unknown>((node, segment) => (node as Record<string, unknown>)[segment], wx) as Endpoint;
}

async function refused(call: Promise<unknown>): Promise<Refusal> {
  try {
    await call;
  } catch (err) {
    const e = err as { code?: string; response?: { status: number; data: unknown } };
    return { status: e.response?.status, code: e.code, data: e.response?.data };
  }
  throw new Error('the call succeeded');
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

let seq = 0;
const newNo = (prefix: string) => `${prefix}${Date.now()}_${++seq}`;

const nativeOrder = (outTradeNo: string, notifyUrl: string, total = 1234) => ({
  appid: APPID, mchid: MCHID, description: 'Tea <b>&</b> cake', out_trade_no: outTradeNo, notify_url: notifyUrl, amount: { total, currency: 'CNY' },
});

/** A notify as a merchant must check it: the platform key's signature over `timestamp\nnonce\nbody\n`. */
function signatureVerifies(d: Delivery, publicKey: string): boolean {
  const h = d.headers;
  return Rsa.verify(Formatter.response(String(h['wechatpay-timestamp']), String(h['wechatpay-nonce']), d.raw), String(h['wechatpay-signature']), publicKey);
}

function decrypt(d: Delivery): unknown {
  const r = (d.event as { resource: { ciphertext: string; nonce: string; associated_data: string } }).resource;
  return JSON.parse(Aes.AesGcm.decrypt(r.ciphertext, APIV3_KEY, r.nonce, r.associated_data)) as unknown;
}

let sim: WechatPaySimulator;
let wx: Wechatpay;
let receiver: Receiver;

beforeAll(async () => {
  sim = new WechatPaySimulator(options());
  await sim.start();
  wx = client(sim);
});

beforeEach(async () => {
  receiver = await startReceiver(() => ({ status: 204 }));
});

afterEach(async () => {
  sim.clearFaults();
  await receiver.close();
});

afterAll(async () => {
  await sim.stop();
});

const query = (outTradeNo: string) => api(wx, 'v3/pay/transactions/out-trade-no/{out_trade_no}').get({ params: { mchid: MCHID }, out_trade_no: outTradeNo });

describe('orders', () => {
  test('a Native order answers a code_url whose page shows the amount, escaped, and pays', async () => {
    const no = newNo('N');
    const { status, data } = await api(wx, 'v3/pay/transactions/native').post(nativeOrder(no, receiver.url));
    expect(status).toBe(200);
    expect(data.code_url).toMatch(new RegExp(`^${sim.baseUrl}/qr/[0-9A-Za-z]{12}$`));

    const page = await fetch(data.code_url as string);
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(html).toContain('¥12.34');
    expect(html).toContain('Tea &lt;b&gt;&amp;&lt;/b&gt; cake');
    expect(html).not.toContain('<b>');
    expect(html).toMatch(/<form method="post" action="\/qr\/[0-9A-Za-z]{12}">/);

    const paid = await fetch(data.code_url as string, { method: 'POST' });
    expect(paid.status).toBe(200);
    expect(await paid.text()).toContain('Paid');
    expect(sim.order(no)?.tradeState).toBe('SUCCESS');
    expect((await fetch(data.code_url as string)).status).toBe(409); // a paid code cannot be paid again
  });

  test('the same out_trade_no: the same terms get the same answer, other terms 201 商户订单号重复, and there is one order', async () => {
    const no = newNo('R');
    const first = await api(wx, 'v3/pay/transactions/native').post(nativeOrder(no, receiver.url));
    const again = await api(wx, 'v3/pay/transactions/native').post(nativeOrder(no, receiver.url));
    expect(again.data.code_url).toBe(first.data.code_url);
    const other = await refused(api(wx, 'v3/pay/transactions/native').post(nativeOrder(no, receiver.url, 999)));
    expect(other.status).toBe(400);
    expect(other.data).toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringContaining('订单号重复') });
    const asJsapi = await refused(api(wx, 'v3/pay/transactions/jsapi').post({ ...nativeOrder(no, receiver.url), payer: { openid: 'o123' } }));
    expect(asJsapi.data.code).toBe('INVALID_REQUEST');
    expect(sim.orders().filter((o) => o.outTradeNo === no)).toHaveLength(1);
    expect(sim.order(no)?.total).toBe(1234);
  });

  test('the SDK verifies every answer: another platform key or an unknown serial is rejected (the order exists all the same)', async () => {
    const no = newNo('V');
    const wrongKey = await refused(api(client(sim, { certs: { [PLATFORM_SERIAL]: stranger.publicKey } }), 'v3/pay/transactions/native').post(nativeOrder(no, receiver.url)));
    expect(wrongKey.code).toBe('EV3_RES_HEADER_SIGNATURE_DIGEST');
    const unknownSerial = await refused(api(client(sim, { certs: { [randomCertificateSerial()]: platform.publicKey } }), 'v3/pay/transactions/native').post(nativeOrder(no, receiver.url)));
    expect(unknownSerial.code).toBe('EV3_RES_HEADER_PLATFORM_SERIAL');
    expect(sim.order(no)?.tradeState).toBe('NOTPAY');

    const { headers } = await query(no);
    expect(headers['wechatpay-serial']).toBe(PLATFORM_SERIAL);
    expect(headers['request-id']).toMatch(/^[0-9A-F]{36}$/);
    expect(Math.abs(Number(headers['wechatpay-timestamp']) - Date.now() / 1000)).toBeLessThan(5);
  });

  test('NOTPAY until pay(); then SUCCESS with a transaction_id, and a notify signed by the platform key that decrypts to the transaction', async () => {
    const no = newNo('P');
    await api(wx, 'v3/pay/transactions/native').post(nativeOrder(no, receiver.url));
    const before = (await query(no)).data;
    expect(before).toMatchObject({ appid: APPID, mchid: MCHID, out_trade_no: no, trade_type: 'NATIVE', trade_state: 'NOTPAY', amount: { total: 1234, currency: 'CNY' } });
    expect(before.transaction_id).toBeUndefined();
    expect(before.payer).toBeUndefined();

    sim.pay(no, { openid: 'oPayer0000000000000000000001' });
    const after = (await query(no)).data;
    expect(after).toMatchObject({ trade_state: 'SUCCESS', trade_state_desc: '支付成功', payer: { openid: 'oPayer0000000000000000000001' }, amount: { total: 1234, payer_total: 1234, currency: 'CNY', payer_currency: 'CNY' } });
    expect(after.transaction_id).toMatch(/^\d{28}$/);
    expect(after.success_time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$/);
    const byId = await api(wx, 'v3/pay/transactions/id/{transaction_id}').get({ params: { mchid: MCHID }, transaction_id: after.transaction_id });
    expect(byId.data).toEqual(after);

    await waitFor(() => receiver.received.length === 1, 'the notify');
    const [delivery] = receiver.received as [Delivery];
    expect(delivery.headers['wechatpay-serial']).toBe(PLATFORM_SERIAL);
    expect(signatureVerifies(delivery, platform.publicKey)).toBe(true);
    expect(signatureVerifies(delivery, stranger.publicKey)).toBe(false);
    expect(delivery.event).toMatchObject({
      event_type: 'TRANSACTION.SUCCESS', resource_type: 'encrypt-resource', summary: '支付成功',
      resource: { algorithm: 'AEAD_AES_256_GCM', associated_data: 'transaction', original_type: 'transaction' },
    });
    expect(delivery.event.resource.nonce).toMatch(/^[0-9A-Za-z]{12}$/);
    expect(decrypt(delivery)).toEqual(after);
    // Recorded once the receiver's answer is read, a moment after it arrived.
    await waitFor(() => sim.notifications.some((n) => n.outTradeNo === no), 'the attempt record');
    expect(sim.notifications.filter((n) => n.outTradeNo === no)).toMatchObject([{ eventType: 'TRANSACTION.SUCCESS', attempt: 1, delivered: true, status: 204 }]);

    expect((await refused(api(wx, 'v3/pay/transactions/native').post(nativeOrder(no, receiver.url)))).data.code).toBe('ORDERPAID');
    const close = await refused(api(wx, 'v3/pay/transactions/out-trade-no/{out_trade_no}/close').post({ mchid: MCHID }, { out_trade_no: no }));
    expect(close).toMatchObject({ status: 400, data: { code: 'ORDERPAID' } });
    expect(() => sim.pay(no)).toThrow(WechatPaySimulatorError);
  });

  test('close answers a signed 204, and again on a closed order; the order is CLOSED for good', async () => {
    const no = newNo('C');
    await api(wx, 'v3/pay/transactions/native').post(nativeOrder(no, receiver.url));
    const close = () => api(wx, 'v3/pay/transactions/out-trade-no/{out_trade_no}/close').post({ mchid: MCHID }, { out_trade_no: no });
    const closed = await close(); // the SDK verified the signature over the empty body, or this would throw
    expect(closed.status).toBe(204);
    expect(closed.data).toBe('');
    expect((await close()).status).toBe(204);
    expect((await query(no)).data).toMatchObject({ trade_state: 'CLOSED', trade_state_desc: '已关闭' });
    expect((await refused(api(wx, 'v3/pay/transactions/native').post(nativeOrder(no, receiver.url)))).data.code).toBe('ORDER_CLOSED');
    expect(() => sim.pay(no)).toThrow(/CLOSED/);
    const unknown = await refused(api(wx, 'v3/pay/transactions/out-trade-no/{out_trade_no}/close').post({ mchid: MCHID }, { out_trade_no: newNo('U') }));
    expect(unknown).toMatchObject({ status: 404, data: { code: 'ORDER_NOT_EXIST' } });
  });

  test('an order past its time_expire is CLOSED; a time_expire in the past or not RFC 3339 is refused', async () => {
    const no = newNo('E');
    const inTwoSeconds = new Date(Math.ceil(Date.now() / 1000) * 1000 + 2000);
    const rfc3339 = `${new Date(inTwoSeconds.getTime() + 8 * 3_600_000).toISOString().slice(0, 19)}+08:00`;
    await api(wx, 'v3/pay/transactions/native').post({ ...nativeOrder(no, receiver.url), time_expire: rfc3339 });
    expect((await query(no)).data.trade_state).toBe('NOTPAY');
    await sleep(inTwoSeconds.getTime() - Date.now() + 50);
    expect((await query(no)).data.trade_state).toBe('CLOSED');
    expect(() => sim.pay(no)).toThrow(/CLOSED/);

    const past = await refused(api(wx, 'v3/pay/transactions/native').post({ ...nativeOrder(newNo('E'), receiver.url), time_expire: '2020-01-01T00:00:00+08:00' }));
    expect(past.data).toMatchObject({ code: 'PARAM_ERROR', detail: { field: '/time_expire' } });
    const notRfc = await refused(api(wx, 'v3/pay/transactions/native').post({ ...nativeOrder(newNo('E'), receiver.url), time_expire: '2099-01-01 00:00:00' }));
    expect(notRfc.data).toMatchObject({ code: 'PARAM_ERROR', detail: { field: '/time_expire' } });
  });

  test('what WeChat refuses: unknown order, another merchant or app, non-CNY, amounts not in integer fen, a notify_url with parameters', async () => {
    expect(await refused(query(newNo('X')))).toMatchObject({ status: 404, data: { code: 'ORDER_NOT_EXIST' } });
    const create = (body: object) => refused(api(wx, 'v3/pay/transactions/native').post(body));
    const base = nativeOrder(newNo('X'), receiver.url);
    expect((await create({ ...base, mchid: '1900000999' })).data.code).toBe('MCH_NOT_EXISTS');
    expect((await create({ ...base, appid: 'wx0000000000000000' })).data.code).toBe('APPID_MCHID_NOT_MATCH');
    expect((await create({ ...base, amount: { total: 100, currency: 'USD' } })).data).toMatchObject({ code: 'PARAM_ERROR', detail: { field: '/amount/currency' } });
    for (const total of ['100', 1.5, 0]) expect((await create({ ...base, amount: { total } })).data).toMatchObject({ code: 'PARAM_ERROR', detail: { field: '/amount/total' } });
    expect((await create({ ...base, notify_url: `${receiver.url}?order=1` })).data).toMatchObject({ code: 'PARAM_ERROR', detail: { field: '/notify_url' } });
    expect((await create({ ...base, out_trade_no: 'a b c d e' })).data).toMatchObject({ code: 'PARAM_ERROR', detail: { field: '/out_trade_no' } });
    const queryOther = await refused(api(wx, 'v3/pay/transactions/out-trade-no/{out_trade_no}').get({ params: { mchid: '1900000999' }, out_trade_no: base.out_trade_no }));
    expect(queryOther.data.code).toBe('MCH_NOT_EXISTS');
    expect(sim.order(base.out_trade_no)).toBeUndefined();
  });

  test('JSAPI needs the payer\'s openid and answers a prepay_id; H5 needs scene_info, and its h5_url pays and returns to redirect_url', async () => {
    const jsapi = { ...nativeOrder(newNo('J'), receiver.url) };
    expect((await refused(api(wx, 'v3/pay/transactions/jsapi').post(jsapi))).data).toMatchObject({ code: 'PARAM_ERROR', detail: { field: '/payer/openid' } });
    const { data } = await api(wx, 'v3/pay/transactions/jsapi').post({ ...jsapi, payer: { openid: 'oJsapi00000000000000000000001' } });
    expect(data.prepay_id).toMatch(/^wx\d{14}[0-9a-z]{20}$/);
    expect(() => sim.pay(jsapi.out_trade_no, { openid: 'oSomeoneElse' })).toThrow(/placed for openid/);
    sim.pay(jsapi.out_trade_no);
    expect((await query(jsapi.out_trade_no)).data).toMatchObject({ trade_type: 'JSAPI', payer: { openid: 'oJsapi00000000000000000000001' } });

    const h5 = { ...nativeOrder(newNo('H'), receiver.url) };
    expect((await refused(api(wx, 'v3/pay/transactions/h5').post(h5))).data).toMatchObject({ code: 'PARAM_ERROR', detail: { field: '/scene_info/payer_client_ip' } });
    const created = await api(wx, 'v3/pay/transactions/h5').post({ ...h5, scene_info: { payer_client_ip: '203.0.113.7', h5_info: { type: 'Wap' } } });
    const h5Url = `${created.data.h5_url as string}&redirect_url=${encodeURIComponent('https://shop.example/back')}`;
    expect((await fetch(h5Url)).status).toBe(200);
    const back = await fetch(h5Url, { method: 'POST', redirect: 'manual' });
    expect(back.status).toBe(303);
    expect(back.headers.get('location')).toBe('https://shop.example/back');
    expect((await query(h5.out_trade_no)).data.trade_type).toBe('MWEB');
    expect(sim.order(h5.out_trade_no)?.tradeState).toBe('SUCCESS');
  });
});

describe('refunds', () => {
  const refund = (body: object) => api(wx, 'v3/refund/domestic/refunds').post(body);
  const refundQuery = (outRefundNo: string) => api(wx, 'v3/refund/domestic/refunds/{out_refund_no}').get({ out_refund_no: outRefundNo });

  async function paidOrder(total = 100): Promise<string> {
    const no = newNo('O');
    await api(wx, 'v3/pay/transactions/native').post(nativeOrder(no, receiver.url, total));
    sim.pay(no);
    return no;
  }
  const body = (outTradeNo: string, outRefundNo: string, amount: number, extra: object = {}) => ({
    out_trade_no: outTradeNo, out_refund_no: outRefundNo, reason: '不想要了', amount: { refund: amount, total: 100, currency: 'CNY' }, ...extra,
  });

  test('two partial refunds, then one over what is left is NOT_ENOUGH, while exactly what is left passes; the order turns REFUND', async () => {
    const no = await paidOrder();
    const first = await refund(body(no, newNo('F'), 30));
    expect(first.data).toMatchObject({
      out_trade_no: no, channel: 'ORIGINAL', status: 'SUCCESS', funds_account: 'AVAILABLE',
      amount: { total: 100, refund: 30, payer_total: 100, payer_refund: 30, currency: 'CNY' },
    });
    expect(first.data.refund_id).toMatch(/^\d{29}$/);
    expect(first.data.transaction_id).toBe(sim.order(no)?.transactionId);
    expect(first.data.success_time).toMatch(/\+08:00$/);
    await refund(body(no, newNo('F'), 50));
    const over = await refused(refund(body(no, newNo('F'), 30)));
    expect(over).toMatchObject({ status: 403, data: { code: 'NOT_ENOUGH' } });
    await refund(body(no, newNo('F'), 20));
    expect((await query(no)).data).toMatchObject({ trade_state: 'REFUND', trade_state_desc: '转入退款' });
    expect(sim.order(no)).toMatchObject({ refunded: 100 });
    expect(sim.order(no)?.refunds).toHaveLength(3);
  });

  test('the same out_refund_no twice is one refund; with another amount it is refused', async () => {
    const no = await paidOrder();
    const outRefundNo = newNo('S');
    const first = await refund(body(no, outRefundNo, 60));
    const again = await refund(body(no, outRefundNo, 60));
    expect(again.data.refund_id).toBe(first.data.refund_id);
    expect(sim.order(no)?.refunds).toEqual([outRefundNo]);
    expect(sim.order(no)?.refunded).toBe(60);
    // 60 + 60 would exceed the order: answered as the first refund, never a second one.
    const changed = await refused(refund(body(no, outRefundNo, 40)));
    expect(changed).toMatchObject({ status: 400, data: { code: 'INVALID_REQUEST' } });
    expect((await refundQuery(outRefundNo)).data).toMatchObject({ refund_id: first.data.refund_id, status: 'SUCCESS' });
  });

  test('what a refund is refused for: another total, a currency other than CNY, an unpaid order; an unknown refund is not found', async () => {
    const no = await paidOrder();
    expect((await refused(refund({ ...body(no, newNo('W'), 10), amount: { refund: 10, total: 99, currency: 'CNY' } }))).data).toMatchObject({ code: 'PARAM_ERROR', detail: { field: '/amount/total' } });
    expect((await refused(refund({ ...body(no, newNo('W'), 10), amount: { refund: 10, total: 100, currency: 'USD' } }))).data).toMatchObject({ code: 'PARAM_ERROR', detail: { field: '/amount/currency' } });
    expect((await refused(refund({ ...body(no, newNo('W'), 10), amount: { refund: 10, total: 100 } }))).data).toMatchObject({ code: 'PARAM_ERROR', detail: { field: '/amount/currency' } });
    const unpaid = newNo('W');
    await api(wx, 'v3/pay/transactions/native').post(nativeOrder(unpaid, receiver.url, 100));
    expect(await refused(refund(body(unpaid, newNo('W'), 10)))).toMatchObject({ status: 404, data: { code: 'RESOURCE_NOT_EXISTS' } });
    expect(await refused(refundQuery(newNo('W')))).toMatchObject({ status: 404, data: { code: 'RESOURCE_NOT_EXISTS' } });
    expect(sim.order(no)?.refunds).toEqual([]);
  });

  test('a refund with a notify_url is notified: REFUND.SUCCESS, decrypting to the refund notify shape', async () => {
    const no = await paidOrder();
    await waitFor(() => receiver.received.length === 1, 'the payment notify');
    const outRefundNo = newNo('N');
    const { data } = await refund(body(no, outRefundNo, 25, { notify_url: receiver.url }));
    await waitFor(() => receiver.received.length === 2, 'the refund notify');
    const delivery = receiver.received[1] as Delivery;
    expect(signatureVerifies(delivery, platform.publicKey)).toBe(true);
    expect(delivery.event).toMatchObject({ event_type: 'REFUND.SUCCESS', summary: '退款成功', resource: { associated_data: 'refund', original_type: 'refund' } });
    expect(decrypt(delivery)).toEqual({
      mchid: MCHID, out_trade_no: no, transaction_id: data.transaction_id, out_refund_no: outRefundNo, refund_id: data.refund_id,
      refund_status: 'SUCCESS', success_time: data.success_time, user_received_account: data.user_received_account,
      amount: { total: 100, refund: 25, payer_total: 100, payer_refund: 25 },
    });
  });

  test('refund_processing: PROCESSING (no notify yet) until settleRefund; CLOSED gives the amount back to the order', async () => {
    const no = await paidOrder();
    await waitFor(() => receiver.received.length === 1, 'the payment notify');
    sim.injectFault({ kind: 'refund_processing', times: 2 });
    const slow = newNo('Q');
    expect((await refund(body(no, slow, 70, { notify_url: receiver.url }))).data).toMatchObject({ status: 'PROCESSING' });
    expect((await refundQuery(slow)).data.success_time).toBeUndefined();
    expect((await refused(refund(body(no, newNo('Q'), 40)))).data.code).toBe('NOT_ENOUGH'); // PROCESSING holds its amount
    await sleep(150);
    expect(receiver.received).toHaveLength(1);

    sim.settleRefund(slow, 'SUCCESS');
    expect((await refundQuery(slow)).data).toMatchObject({ status: 'SUCCESS', success_time: expect.stringMatching(/\+08:00$/) });
    await waitFor(() => receiver.received.length === 2, 'the refund notify');
    expect(decrypt(receiver.received[1] as Delivery)).toMatchObject({ out_refund_no: slow, refund_status: 'SUCCESS' });
    expect(() => sim.settleRefund(slow, 'CLOSED')).toThrow(/only a PROCESSING refund/);

    const closing = newNo('Q');
    await refund(body(no, closing, 30, { notify_url: receiver.url }));
    sim.settleRefund(closing, 'CLOSED');
    await waitFor(() => receiver.received.length === 3, 'the REFUND.CLOSED notify');
    expect((receiver.received[2] as Delivery).event.event_type).toBe('REFUND.CLOSED');
    expect((await refund(body(no, newNo('Q'), 30))).data.status).toBe('SUCCESS'); // the closed 30 is refundable again
  });

  test('system_error after the effect: the SDK sees 500 SYSTEM_ERROR, the retry with the same out_refund_no finds the one refund', async () => {
    const no = await paidOrder();
    sim.injectFault({ kind: 'system_error', path: '/v3/refund', afterEffect: true });
    const outRefundNo = newNo('Z');
    expect(await refused(refund(body(no, outRefundNo, 100)))).toMatchObject({ status: 500, data: { code: 'SYSTEM_ERROR' } });
    const retry = await refund(body(no, outRefundNo, 100));
    expect(retry.data).toMatchObject({ out_refund_no: outRefundNo, status: 'SUCCESS' });
    expect(sim.order(no)?.refunds).toEqual([outRefundNo]);
    expect(sim.requests.filter((r) => r.outRefundNo === outRefundNo).map((r) => [r.status, r.fault])).toEqual([[500, 'system_error'], [200, undefined]]);
  });
});

describe('faults and control', () => {
  test('slow: the SDK times out, yet the order was made; the same request again gets its answer', async () => {
    sim.injectFault({ kind: 'slow', path: '/v3/pay/transactions/native', delayMs: 400 });
    const no = newNo('L');
    const timedOut = await refused(api(wx, 'v3/pay/transactions/native').post(nativeOrder(no, receiver.url), { timeout: 100 }));
    expect(timedOut.code).toBe('ECONNABORTED');
    expect(sim.order(no)?.tradeState).toBe('NOTPAY');
    const again = await api(wx, 'v3/pay/transactions/native').post(nativeOrder(no, receiver.url));
    expect(again.data.code_url).toBe(sim.order(no)?.codeUrl);
    // The slow call is recorded when its (unread) answer finally leaves, after the repeat's.
    await waitFor(() => sim.requests.filter((r) => r.outTradeNo === no).length === 2, 'the slow answer');
    expect(sim.requests.filter((r) => r.outTradeNo === no).map((r) => r.fault)).toEqual([undefined, 'slow']);
  });

  test('the HTTP control API pays orders and takes faults, refusing a malformed one', async () => {
    const no = newNo('M');
    await api(wx, 'v3/pay/transactions/native').post(nativeOrder(no, receiver.url));
    const paid = await fetch(`${sim.baseUrl}/sim/orders/${no}/pay`, { method: 'POST' });
    expect(paid.status).toBe(200);
    expect(await paid.json()).toMatchObject({ outTradeNo: no, tradeState: 'SUCCESS', transaction: { trade_state: 'SUCCESS' } });
    expect((await fetch(`${sim.baseUrl}/sim/orders/${no}/pay`, { method: 'POST' })).status).toBe(409);
    const typo = await fetch(`${sim.baseUrl}/sim/faults`, { method: 'POST', body: JSON.stringify({ kind: 'lose_notfy' }) });
    expect(typo.status).toBe(400);
    const posted = await fetch(`${sim.baseUrl}/sim/faults`, { method: 'POST', body: JSON.stringify({ kind: 'refund_processing', times: 2 }) });
    expect(posted.status).toBe(201);
    expect(sim.pendingFaults()).toEqual([{ fault: { kind: 'refund_processing', times: 2 }, remaining: 2 }]);
  });
});

describe('notifies', () => {
  async function orderAndPay(): Promise<string> {
    const no = newNo('T');
    await api(wx, 'v3/pay/transactions/native').post(nativeOrder(no, receiver.url));
    sim.pay(no);
    return no;
  }

  test('retried on the schedule until a 2xx: the same body and id each time, signed afresh', async () => {
    await receiver.close();
    receiver = await startReceiver((n) => ({ status: n < 3 ? 500 : 200 }));
    const no = await orderAndPay();
    await waitFor(() => receiver.received.length === 3, 'three attempts');
    await sleep(250);
    expect(receiver.received).toHaveLength(3); // the 200 ended it
    const [a, b, c] = receiver.received as [Delivery, Delivery, Delivery];
    expect(b.raw).toBe(a.raw);
    expect(c.raw).toBe(a.raw);
    expect(new Set(receiver.received.map((d) => d.headers['wechatpay-nonce'])).size).toBe(3);
    expect(receiver.received.every((d) => signatureVerifies(d, platform.publicKey))).toBe(true);
    expect(sim.notifications.filter((n) => n.outTradeNo === no).map((n) => [n.attempt, n.status, n.delivered])).toEqual([[1, 500, false], [2, 500, false], [3, 200, true]]);
  });

  test('tamper_notify: the signature verifies, only the GCM tag check catches it', async () => {
    sim.injectFault({ kind: 'tamper_notify' });
    const no = await orderAndPay();
    await waitFor(() => receiver.received.length === 1, 'the notify');
    const delivery = receiver.received[0] as Delivery;
    expect(signatureVerifies(delivery, platform.publicKey)).toBe(true);
    expect(() => decrypt(delivery)).toThrow(/authenticate/);
    await waitFor(() => sim.notifications.some((n) => n.outTradeNo === no), 'the attempt record');
    expect(sim.notifications.find((n) => n.outTradeNo === no)).toMatchObject({ tampered: true, delivered: true });
  });

  test('duplicate_notify delivers each attempt twice with one id; lose_notify delivers nothing', async () => {
    sim.injectFault({ kind: 'duplicate_notify' });
    await orderAndPay();
    await waitFor(() => receiver.received.length === 2, 'both copies');
    const [a, b] = receiver.received as [Delivery, Delivery];
    expect(a.event.id).toBe(b.event.id);
    expect(a.raw).toBe(b.raw);

    sim.injectFault({ kind: 'lose_notify' });
    const lost = await orderAndPay();
    await waitFor(() => sim.notifications.filter((n) => n.outTradeNo === lost).length === 4, 'every attempt dropped', 2000);
    expect(receiver.received).toHaveLength(2);
    expect(sim.notifications.filter((n) => n.outTradeNo === lost).every((n) => !n.delivered && n.error?.includes('lose_notify'))).toBe(true);
  });

  test('notify_before_answer: the order is paid and notified before the create answer arrives', async () => {
    sim.injectFault({ kind: 'notify_before_answer' });
    const no = newNo('B');
    await api(wx, 'v3/pay/transactions/native').post(nativeOrder(no, receiver.url));
    expect(receiver.received).toHaveLength(1);
    expect(decrypt(receiver.received[0] as Delivery)).toMatchObject({ out_trade_no: no, trade_state: 'SUCCESS' });
  });

  test('buildNotification and deliverNotification make forged notifies: another key or serial, an old timestamp', async () => {
    const no = await orderAndPay();
    const resource = sim.order(no)?.transaction as object;
    const genuine = sim.buildNotification('TRANSACTION.SUCCESS', resource);
    expect(await sim.deliverNotification(receiver.url, genuine)).toEqual({ status: 204, body: '' });
    const forged = sim.buildNotification('TRANSACTION.SUCCESS', resource, { signWith: stranger.privateKey, serial: 'PUB_KEY_ID_0000', timestamp: 1_600_000_000 });
    expect(forged.headers).toMatchObject({ 'Wechatpay-Serial': 'PUB_KEY_ID_0000', 'Wechatpay-Timestamp': '1600000000' });
    await sim.deliverNotification(receiver.url, forged);
    const [, first, second] = receiver.received as [Delivery, Delivery, Delivery];
    expect(signatureVerifies(first, platform.publicKey)).toBe(true);
    expect(decrypt(first)).toEqual(resource);
    expect(signatureVerifies(second, platform.publicKey)).toBe(false);
    expect(signatureVerifies(second, stranger.publicKey)).toBe(true);
  });
});

describe('authentication', () => {
  /** A request signed by hand, as the SDK does, with what a test wants wrong. */
  async function signed(over: { timestamp?: number; key?: string; serial?: string; body?: string; auth?: string } = {}): Promise<{ status: number; data: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const path = `/v3/pay/transactions/out-trade-no/${newNo('A')}?mchid=${MCHID}`;
    const timestamp = over.timestamp ?? Formatter.timestamp();
    const nonce = Formatter.nonce();
    const signature = Rsa.sign(Formatter.request('GET', path, timestamp, nonce, ''), over.key ?? merchant.privateKey);
    const authorization = over.auth ?? Formatter.authorization(MCHID, nonce, signature, timestamp, over.serial ?? MERCHANT_SERIAL);
    const res = await fetch(`${sim.baseUrl}${path}`, { headers: { authorization, accept: 'application/json' } });
    return { status: res.status, data: await res.json() };
  }

  test('a request signed with another key, by another serial, too old, or unsigned is 401 SIGN_ERROR; signed right it reaches the API', async () => {
    expect(await signed()).toMatchObject({ status: 404, data: { code: 'ORDER_NOT_EXIST' } });
    const wrongKey = await signed({ key: stranger.privateKey });
    expect(wrongKey).toMatchObject({ status: 401, data: { code: 'SIGN_ERROR', detail: { field: 'signature' } } });
    expect(wrongKey.data.detail.sign_information.truncated_sign_message).toMatch(/^GET\n\/v3\/pay\/transactions\/out-trade-no\/A\d+_\d+\?mchid=1900000109\n\d+\n/);
    expect((await signed({ serial: randomCertificateSerial() })).data.detail.field).toBe('serial_no');
    expect((await signed({ timestamp: Formatter.timestamp() - 301 })).data.detail.field).toBe('timestamp');
    expect(await signed({ auth: 'Bearer nope' })).toMatchObject({ status: 401, data: { code: 'SIGN_ERROR' } });

    const viaSdk = await refused(api(client(sim, { privateKey: stranger.privateKey }), 'v3/pay/transactions/native').post(nativeOrder(newNo('A'), receiver.url)));
    expect(viaSdk).toMatchObject({ status: 401, data: { code: 'SIGN_ERROR' } });
    const unsigned = await fetch(`${sim.baseUrl}/v3/pay/transactions/native`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(unsigned.status).toBe(401);
    expect(unsigned.headers.get('wechatpay-signature')).toBeTruthy(); // errors are signed too
  });
});

test('public-key mode: PUB_KEY_ID_… names the platform key in answers and notifies', async () => {
  const keyId = randomPublicKeyId();
  const other = new WechatPaySimulator(options({ platformSerial: keyId }));
  await other.start();
  try {
    const sdk = client(other, { certs: { [keyId]: platform.publicKey } });
    const no = newNo('K');
    const created = await api(sdk, 'v3/pay/transactions/native').post(nativeOrder(no, receiver.url));
    expect(created.headers['wechatpay-serial']).toBe(keyId);
    other.pay(no);
    await waitFor(() => receiver.received.length === 1, 'the notify');
    expect((receiver.received[0] as Delivery).headers['wechatpay-serial']).toBe(keyId);
    expect(signatureVerifies(receiver.received[0] as Delivery, platform.publicKey)).toBe(true);
    // A client still keyed by the certificate serial cannot find the key the answer names.
    expect((await refused(api(client(other), 'v3/pay/transactions/native').post(nativeOrder(newNo('K'), receiver.url)))).code).toBe('EV3_RES_HEADER_PLATFORM_SERIAL');
  } finally {
    await other.stop();
  }
});
