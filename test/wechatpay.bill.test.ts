import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { Wechatpay } from 'wechatpay-axios-plugin';
import { newId } from '../domain/ids';
import { ProviderFault } from '../providers/provider';
import { TradeBillFormatError, parseTradeBill, readTradeBill, totalsProblem } from '../providers/wechat_pay/wechatpay.bill';
import { WechatPayProvider } from '../providers/wechat_pay/wechatpay.provider';
import type { SettlementLine } from '../reconciliation/report';
import { WechatPaySimulator, generateKeyPair, randomCertificateSerial, randomPublicKeyId } from '../simulators/wechat_pay/gateway';
import type { WechatPaySimulatorOptions } from '../simulators/wechat_pay/gateway';
import type { Receiver } from './support/receiver';
import { startReceiver } from './support/receiver';

/**
 * Reconciliation's view of WeChat Pay: the simulator writes the trade bill from its own books
 * (payments and refunds made through the real provider class), and the provider applies for it,
 * downloads it signed, checks its SHA-1 and reads it into settlement lines. No Temporal, no database.
 */

const MCHID = '1900000109';
const APPID = 'wxd678efh567hg6787';
const APIV3_KEY = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';
const merchant = generateKeyPair();
const platform = generateKeyPair();
const MERCHANT_SERIAL = randomCertificateSerial();
const PUB_KEY_ID = randomPublicKeyId();
const FIXTURE = path.join(__dirname, 'fixtures', 'wechat_pay', 'tradebill-all.csv.gz');

const HEADER = '交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注';
const SUMMARY_HEADER = '总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额';

let receiver: Receiver;
let sim: WechatPaySimulator;
let provider: WechatPayProvider;

/** A fresh WeChat Pay per test: a day's bill then holds exactly what the test did. */
async function startWechatPay(over: Partial<WechatPaySimulatorOptions> = {}): Promise<void> {
  sim = new WechatPaySimulator({
    mchid: MCHID, appid: APPID, merchantSerial: MERCHANT_SERIAL, merchantPublicKey: merchant.publicKey,
    platformSerial: PUB_KEY_ID, platformPrivateKey: platform.privateKey, apiV3Key: APIV3_KEY, notifyRetryScheduleMs: [100], ...over,
  });
  await sim.start();
  provider = new WechatPayProvider({
    mchid: MCHID, appid: APPID, merchantSerial: MERCHANT_SERIAL, merchantPrivateKey: merchant.privateKey,
    platformKeys: { [PUB_KEY_ID]: platform.publicKey }, apiV3Key: APIV3_KEY, baseUrl: sim.baseUrl, notifyUrl: receiver.url, timeoutMs: 5000,
  });
}

beforeAll(async () => {
  receiver = await startReceiver(() => ({ status: 204 }));
});

beforeEach(async () => {
  await startWechatPay();
});

afterEach(async () => {
  await sim.stop();
});

afterAll(async () => {
  await receiver.close();
});

/** A Native payment placed through the provider, paid by the customer at the simulator, confirmed by capture. */
async function paidPayment(amount: number): Promise<{ paymentId: string; transactionId: string; paidAt: string }> {
  const paymentId = newId('pay');
  const placed = await provider.authorize({
    paymentId, merchantId: 'mer_bill', amount, currency: 'CNY', method: { type: 'wechat_pay' }, captureMethod: 'automatic', channel: 'qr',
    returnUrl: null, actionExpiresAt: new Date(Date.now() + 600_000).toISOString(), idempotencyKey: `${paymentId}:authorize`,
  });
  expect(placed.status).toBe('requires_action');
  sim.pay(paymentId);
  expect(await provider.capture({ paymentId, reference: paymentId, amount, currency: 'CNY', idempotencyKey: `${paymentId}:capture` })).toEqual({ status: 'succeeded' });
  const order = sim.order(paymentId)!;
  return { paymentId, transactionId: order.transactionId!, paidAt: order.paidAt! };
}

async function refunded(paymentId: string, amount: number, paymentAmount: number): Promise<{ refundId: string; createdAt: string }> {
  const refundId = newId('re');
  const result = await provider.refund({ paymentId, refundId, reference: paymentId, amount, paymentAmount, currency: 'CNY', idempotencyKey: `${paymentId}:refund:${refundId}` });
  expect(result).toEqual({ status: 'succeeded' });
  return { refundId, createdAt: sim.refund(refundId)!.createdAt };
}

/* eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are arbitrary JSON or bytes */
type Answer = { status: number; data: any; headers: Record<string, unknown> };
/** `v3/bill/tradebill` walks the SDK's chain (`wx.v3.bill.tradebill`). */
const api = (wx: Wechatpay, path: string) => path.split('/').reduce<unknown>((node, segment) => (node as Record<string, unknown>)[segment], wx) as { get(config?: object): Promise<Answer> };

/** The Beijing day of an instant: WeChat's bill day. */
const beijingDay = (iso: string) => new Date(Date.parse(iso) + 8 * 3_600_000).toISOString().slice(0, 10);
/** The bill writes Beijing times to the second; the lines keep them so, with their offset. */
const beijingSecond = (iso: string) => `${new Date(Date.parse(iso) + 8 * 3_600_000).toISOString().slice(0, 19)}+08:00`;

/** The report of every Beijing day the instants fall on (one, unless a test runs across Beijing midnight). */
async function reportOf(instants: string[]): Promise<SettlementLine[]> {
  const days = [...new Set(instants.map(beijingDay))].sort();
  const reports = await Promise.all(days.map((date) => provider.settlementReport({ date, livemode: false })));
  return reports.flat();
}

const charge = (p: { paymentId: string; transactionId: string; paidAt: string }, gross: number, fee: number): SettlementLine => ({
  provider: 'wechat_pay', provider_reference: p.transactionId, payment_id: p.paymentId, refund_id: null, type: 'charge',
  gross, fee, net: gross - fee, currency: 'CNY', settled_at: beijingSecond(p.paidAt),
});
const refundLine = (p: { paymentId: string; transactionId: string }, r: { refundId: string; createdAt: string }, amount: number, feeBack: number): SettlementLine => ({
  provider: 'wechat_pay', provider_reference: p.transactionId, payment_id: p.paymentId, refund_id: r.refundId, type: 'refund',
  gross: -amount, fee: 0 - feeBack /* no -0 for nothing given back */, net: feeBack - amount, currency: 'CNY', settled_at: beijingSecond(r.createdAt),
});

/** What WeChat keeps, computed apart from the simulator: 0.6 % rounded half up to the fen. */
const feeAt60 = (fen: number) => Math.floor((fen * 60 + 5000) / 10_000);

describe('the day\'s report', () => {
  test('payments and refunds made through the provider come back as exact lines: fees half up, refunds giving their share back', async () => {
    const big = await paidPayment(10_000); // fee 60
    const half = await paidPayment(250); // 1.5 fen: half up to 2
    const oneFen = await paidPayment(1); // 0.006 fen: nothing
    const odd = await paidPayment(12_345); // 74.07 fen: 74
    const quarter = await refunded(big.paymentId, 2500, 10_000); // a quarter of 60 back
    const rest = await refunded(big.paymentId, 7500, 10_000); // the rest of the fee: all 60 back in the end
    const whole = await refunded(half.paymentId, 250, 250);

    const lines = await reportOf([big.paidAt, half.paidAt, oneFen.paidAt, odd.paidAt, quarter.createdAt, rest.createdAt, whole.createdAt]);
    expect(lines).toEqual([
      charge(big, 10_000, 60),
      charge(half, 250, 2),
      charge(oneFen, 1, 0),
      charge(odd, 12_345, 74),
      refundLine(big, quarter, 2500, 15),
      refundLine(big, rest, 7500, 45),
      refundLine(half, whole, 250, 2),
    ]);
    expect(lines.reduce((sum, l) => sum + l.net, 0)).toBe(10_000 + 250 + 1 + 12_345 - 10_000 - 250 - (60 + 2 + 0 + 74 - 62));
    expect(provider.reportTimeZone).toBe('Asia/Shanghai');
  });

  test('the provider applies for the gzipped ALL bill and downloads it with a signed GET; the file itself comes unsigned', async () => {
    const p = await paidPayment(8800);
    const date = beijingDay(p.paidAt);
    await provider.settlementReport({ date, livemode: false });
    const calls = sim.requests.filter((r) => r.path.startsWith('/v3/bill'));
    expect(calls.map((r) => [r.method, r.path, r.status])).toEqual([['GET', '/v3/bill/tradebill', 200], ['GET', '/v3/billdownload/file', 200]]);

    // The same two calls by hand: the answer names the hash of the uncompressed bill.
    const wx = new Wechatpay({ mchid: MCHID, serial: MERCHANT_SERIAL, privateKey: merchant.privateKey, certs: { [PUB_KEY_ID]: platform.publicKey }, baseURL: sim.baseUrl });
    const { data: ticket } = await api(wx, 'v3/bill/tradebill').get({ params: { bill_date: date, bill_type: 'ALL', tar_type: 'GZIP' } });
    expect(ticket).toEqual({ hash_type: 'SHA1', hash_value: expect.stringMatching(/^[0-9a-f]{40}$/), download_url: expect.stringMatching(new RegExp(`^${sim.baseUrl}/v3/billdownload/file\\?token=`)) });
    const unsigned = await fetch(ticket.download_url as string);
    expect(unsigned.status).toBe(401); // the download wants the merchant's Authorization like any call
    expect((await unsigned.json()) as unknown).toMatchObject({ code: 'SIGN_ERROR' });
    const url = new URL(ticket.download_url as string);
    const file = await api(wx, 'v3/billdownload/file').get({ params: Object.fromEntries(url.searchParams), responseType: 'arraybuffer' });
    expect(file.headers['content-type']).toBe('application/x-gzip');
    expect(file.headers['wechatpay-signature']).toBeUndefined();
    const bill = gunzipSync(Buffer.from(file.data as ArrayBuffer));
    expect(createHash('sha1').update(bill).digest('hex')).toBe(ticket.hash_value);
    expect(bill.toString('utf8')).toBe(sim.tradeBill(date));

    // Without tar_type the same bill comes as text.
    const { data: plainTicket } = await api(wx, 'v3/bill/tradebill').get({ params: { bill_date: date } });
    const plain = await api(wx, 'v3/billdownload/file').get({ params: Object.fromEntries(new URL(plainTicket.download_url as string).searchParams), responseType: 'arraybuffer' });
    expect(Buffer.from(plain.data as ArrayBuffer).equals(bill)).toBe(true);
  });

  test('a day without a payment has no bill at WeChat (NO_STATEMENT_EXIST): the report is empty', async () => {
    await paidPayment(100); // today has a bill; 2020-01-01 has none
    expect(await provider.settlementReport({ date: '2020-01-01', livemode: false })).toEqual([]);
    expect(sim.requests.at(-1)).toMatchObject({ path: '/v3/bill/tradebill', status: 400, code: 'NO_STATEMENT_EXIST' });
  });

  test('a downloaded file that is not the one hashed is refused, retryably; the next download is fine', async () => {
    const p = await paidPayment(4321);
    sim.injectFault({ kind: 'tamper_bill' });
    const refused = await provider.settlementReport({ date: beijingDay(p.paidAt), livemode: false }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ProviderFault);
    expect(refused).toMatchObject({ retryable: true, message: expect.stringContaining('SHA-1') });
    expect(await reportOf([p.paidAt])).toEqual([charge(p, 4321, feeAt60(4321))]);
  });

  test('a WeChat Pay system error while applying for the bill is a retryable fault', async () => {
    const p = await paidPayment(500);
    sim.injectFault({ kind: 'system_error', path: '/v3/bill' });
    await expect(provider.settlementReport({ date: beijingDay(p.paidAt), livemode: false })).rejects.toMatchObject({ retryable: true });
  });

  test('a download_url on another host is not sent our signature; a link WeChat no longer serves is applied for again', async () => {
    // The download step alone, as the provider takes it from a tradebill answer.
    const download = (provider as unknown as { downloadBill(url: string): Promise<Buffer> }).downloadBill.bind(provider);
    const other = new WechatPaySimulator({
      mchid: MCHID, appid: APPID, merchantSerial: MERCHANT_SERIAL, merchantPublicKey: merchant.publicKey,
      platformSerial: PUB_KEY_ID, platformPrivateKey: platform.privateKey, apiV3Key: APIV3_KEY,
    });
    const otherUrl = await other.start();
    try {
      await expect(download(`${otherUrl}/v3/billdownload/file?token=x`)).rejects.toMatchObject({ retryable: false, message: expect.stringContaining('not sending our signature') });
      expect(other.requests).toHaveLength(0);
    } finally {
      await other.stop();
    }
    // An unknown (or expired) token: WeChat's JSON refusal is read out of the binary answer and named.
    await expect(download(`${sim.baseUrl}/v3/billdownload/file?token=expired`)).rejects.toMatchObject({ retryable: true, message: expect.stringContaining('INVALID_REQUEST') });
  });
});

describe('discrepancies injected into the bill', () => {
  test('each kind shows in the report, the bill still adding up; cleared, the bill is the books again', async () => {
    const a = await paidPayment(1000);
    const b = await paidPayment(2000);
    const c = await paidPayment(3000);
    const d = await paidPayment(4000);
    const instants = [a.paidAt, b.paidAt, c.paidAt, d.paidAt];
    sim.injectBillDiscrepancy({ kind: 'missing_line', outTradeNo: a.paymentId });
    sim.injectBillDiscrepancy({ kind: 'amount', outTradeNo: b.paymentId, amount: 1999 });
    sim.injectBillDiscrepancy({ kind: 'fee', outTradeNo: c.paymentId, fee: 99 });
    sim.injectBillDiscrepancy({ kind: 'unknown_trade', amount: 777, outTradeNo: 'pay_nobodyknows' });
    sim.injectBillDiscrepancy({ kind: 'unknown_trade', amount: 5 });

    const lines = await reportOf(instants);
    expect(lines.filter((l) => l.payment_id === a.paymentId)).toEqual([]);
    expect(lines.find((l) => l.payment_id === b.paymentId)).toEqual(charge(b, 1999, 12)); // the fee as WeChat kept it
    expect(lines.find((l) => l.payment_id === c.paymentId)).toEqual(charge(c, 3000, 99));
    expect(lines.find((l) => l.payment_id === d.paymentId)).toEqual(charge(d, 4000, 24));
    const unknown = lines.find((l) => l.payment_id === 'pay_nobodyknows');
    expect(unknown).toMatchObject({ type: 'charge', gross: 777, fee: 5, net: 772, currency: 'CNY', provider_reference: expect.stringMatching(/^\d{28}$/) });
    const anonymous = lines.filter((l) => ![a, b, c, d].some((p) => p.paymentId === l.payment_id) && l.payment_id !== 'pay_nobodyknows');
    expect(anonymous).toEqual([expect.objectContaining({ type: 'charge', gross: 5, fee: 0, payment_id: expect.stringMatching(/^unknown_\d{12}$/) })]);
    // The invented trade keeps its ids from one bill to the next, as a real one would.
    expect((await reportOf(instants)).find((l) => l.payment_id === 'pay_nobodyknows')).toEqual(unknown);

    sim.clearBillDiscrepancies();
    expect(await reportOf(instants)).toEqual([charge(a, 1000, 6), charge(b, 2000, 12), charge(c, 3000, 18), charge(d, 4000, 24)]);
  });

  test('a malformed discrepancy is refused; the control API takes them too', async () => {
    expect(() => sim.injectBillDiscrepancy({ kind: 'amount', outTradeNo: 'x', amount: 1.5 })).toThrow(/integer/);
    expect(() => sim.injectBillDiscrepancy({ kind: 'nope' } as never)).toThrow(/kind must be one of/);
    const res = await fetch(`${sim.baseUrl}/sim/bill-discrepancies`, { method: 'POST', body: JSON.stringify({ kind: 'fee', outTradeNo: 'pay_x', fee: 3 }) });
    expect(res.status).toBe(201);
    expect((await fetch(`${sim.baseUrl}/sim/bill-discrepancies`, { method: 'DELETE' })).status).toBe(204);
  });
});

describe('the fee rate', () => {
  test('feeRateBps sets the rate the bill charges and shows', async () => {
    await sim.stop();
    await startWechatPay({ feeRateBps: 38 });
    const p = await paidPayment(10_050); // 38.19 fen: 38
    expect(await reportOf([p.paidAt])).toEqual([charge(p, 10_050, 38)]);
    expect(sim.tradeBill(beijingDay(p.paidAt))).toContain('`0.38%,');
    expect(() => new WechatPaySimulator({ mchid: MCHID, appid: APPID, merchantSerial: MERCHANT_SERIAL, merchantPublicKey: merchant.publicKey, platformSerial: PUB_KEY_ID, platformPrivateKey: platform.privateKey, apiV3Key: APIV3_KEY, feeRateBps: 0.5 })).toThrow(/feeRateBps/);
  });
});

describe('the bill file', () => {
  // Written by the simulator (tar_type=GZIP): four payments, one with a comma in its product name
  // and its attach, a payment refunded in two parts and one refunded whole.
  const gz = readFileSync(FIXTURE);
  const text = gunzipSync(gz).toString('utf8');
  const tx = { one: '4200041962202612029159536078', two: '4200007571202612021690444397', three: '4200092488202612023208824932', four: '4200019120202612020936915673' };
  const at = '2026-12-02T13:09:50+08:00';
  const line = (o: Partial<SettlementLine>): SettlementLine => ({
    provider: 'wechat_pay', provider_reference: '', payment_id: null, refund_id: null, type: 'charge', gross: 0, fee: 0, net: 0, currency: 'CNY', settled_at: at, ...o,
  });

  test('is WeChat\'s CSV: BOM, the ALL header, backtick-prefixed fields, CRLF, the summary last', () => {
    expect(gz.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    const rows = text.split('\r\n');
    expect(rows[0]).toBe(`\ufeff${HEADER}`);
    expect(rows.at(-1)).toBe('');
    expect(rows.at(-3)).toBe(SUMMARY_HEADER);
    expect(rows.at(-2)).toBe('`7,`225.96,`102.50,`0.00,`0.74000,`225.96,`102.50');
    for (const row of rows.slice(1, -3)) expect(row.startsWith('`')).toBe(true);
    expect(rows[1]).toContain(',`Tea, cake and 点心,`{"order":7,"table":"A,3"},`0.60000,`0.60%,`100.00,`0.00,`');
  });

  test('parses into exact lines: backticks stripped, commas inside fields kept, summary rows skipped, totals adding up', () => {
    const bill = readTradeBill(text);
    expect(bill.lines).toEqual([
      line({ provider_reference: tx.one, payment_id: 'pay_fixture0001', gross: 10_000, fee: 60, net: 9940 }),
      line({ provider_reference: tx.two, payment_id: 'pay_fixture0002', gross: 250, fee: 2, net: 248 }),
      line({ provider_reference: tx.three, payment_id: 'pay_fixture0003', gross: 1, fee: 0, net: 1 }),
      line({ provider_reference: tx.four, payment_id: 'pay_fixture0004', gross: 12_345, fee: 74, net: 12_271 }),
      line({ provider_reference: tx.one, payment_id: 'pay_fixture0001', refund_id: 're_fixture0001', type: 'refund', gross: -2500, fee: -15, net: -2485 }),
      line({ provider_reference: tx.one, payment_id: 'pay_fixture0001', refund_id: 're_fixture0002', type: 'refund', gross: -7500, fee: -45, net: -7455 }),
      line({ provider_reference: tx.two, payment_id: 'pay_fixture0002', refund_id: 're_fixture0003', type: 'refund', gross: -250, fee: -2, net: -248 }),
    ]);
    expect(bill.totals).toEqual({ rows: 7, settlement: 22_596, refunds: 10_250, fees: 74 });
    expect(totalsProblem(bill)).toBeUndefined();
    expect(parseTradeBill(text)).toEqual(bill.lines);
    expect(JSON.stringify(bill.lines)).not.toContain('`');
  });

  test('a bill whose lines contradict its summary is caught by the totals check', () => {
    const doctored = text.replace('`7,`225.96,`102.50,`0.00,`0.74000', '`7,`225.97,`102.50,`0.00,`0.75000');
    expect(totalsProblem(readTradeBill(doctored))).toBe('应结订单总金额 says 22597, the rows 22596; 手续费总金额 says 75, the rows 74');
  });

  test('a malformed row is refused, naming its line', () => {
    const rows = text.replace(/\r\n$/, '').split('\r\n');
    const withRow = (i: number, row: string) => rows.map((r, j) => (j === i ? row : r)).join('\n');
    const expectRefusal = (csv: string, message: RegExp) => {
      let thrown: unknown;
      try {
        parseTradeBill(csv);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(TradeBillFormatError);
      expect((thrown as Error).message).toMatch(message);
    };
    const second = rows[2]!;
    expectRefusal(withRow(2, second.slice(1)), /line 3: a field without its leading backtick/);
    expectRefusal(withRow(2, second.replace(',`CNY,', ',`CNY,`extra,')), /line 3: 28 fields where the header has 27/);
    expectRefusal(withRow(2, second.replace('`2.50,`0.00,`0,', '`2.505,`0.00,`0,')), /line 3: 应结订单金额 2.505 is not an amount in CNY/);
    expectRefusal(withRow(2, second.replace('`0.02000,', '`0.02x,')), /line 3: 手续费 0.02x is not an amount/);
    expectRefusal(withRow(2, second.replace('`2026-12-02 13:09:50', '`2026-02-31 13:09:50')), /line 3: 交易时间 2026-02-31 13:09:50 is not a time/);
    expectRefusal(withRow(2, second.replace('`SUCCESS,', '`REVOKED,')), /line 3: 交易状态 REVOKED is neither SUCCESS nor REFUND/);
    expectRefusal(withRow(0, HEADER.replace(',手续费,', ',fee,')), /line 1: the header lacks 手续费/);
    expectRefusal(rows.slice(0, -2).join('\n'), /no summary/);
    expectRefusal(`${rows.join('\n')}\n\`junk`, /line 11: a row after the summary/);
  });
});

describe('fen exactness', () => {
  /** A bill written apart from the simulator, as WeChat writes amounts: yuan, fees to five decimals. */
  const yuan = (fen: number) => `${fen < 0 ? '-' : ''}${Math.floor(Math.abs(fen) / 100)}.${String(Math.abs(fen) % 100).padStart(2, '0')}`;
  const row = (state: 'SUCCESS' | 'REFUND', settlement: number, refund: number, fee: number) => [
    '2026-12-02 10:00:00', APPID, MCHID, '0', '', '4200000000202612020000000001', 'pay_x', 'o_x', 'NATIVE', state, 'OTHERS', 'CNY',
    yuan(settlement), '0.00', state === 'REFUND' ? '50300000000202612020000000001' : '0', state === 'REFUND' ? 're_x' : '0', yuan(refund), '0.00',
    state === 'REFUND' ? 'ORIGINAL' : '', state === 'REFUND' ? 'SUCCESS' : '', 'x', '', `${yuan(fee)}000`, '0.60%', yuan(settlement), yuan(refund), '',
  ].map((f) => `\`${f}`).join(',');
  const billOf = (total: number, refund: number, fee: number, feeBack: number) => [
    HEADER, row('SUCCESS', total, 0, fee), row('REFUND', 0, refund, -feeBack), SUMMARY_HEADER,
    [2, yuan(total), yuan(refund), '0.00', `${yuan(fee - feeBack)}000`, yuan(total), yuan(refund)].map((f) => `\`${f}`).join(','),
  ].join('\r\n');

  test('any amount in fen reads back exactly, never through a float', () => {
    const fen = fc.integer({ min: 1, max: 2_147_483_647 });
    fc.assert(fc.property(fen, fen, (total, r) => {
      const refund = Math.min(r, total);
      const fee = feeAt60(total);
      const feeBack = Math.floor((fee * refund * 2 + total) / (2 * total));
      const bill = readTradeBill(billOf(total, refund, fee, feeBack));
      expect(bill.lines.map((l) => [l.gross, l.fee, l.net])).toEqual([[total, fee, total - fee], [-refund, 0 - feeBack, feeBack - refund]]);
      expect(totalsProblem(bill)).toBeUndefined();
    }), { numRuns: 500 });
  });

  test('the classic float traps (0.29, 1.15, 4.35, 19.99, 21474836.47) are exact', () => {
    for (const fen of [29, 115, 435, 1999, 2_147_483_647]) {
      expect(parseTradeBill(billOf(fen, fen, feeAt60(fen), feeAt60(fen)))[0]).toMatchObject({ gross: fen, fee: feeAt60(fen) });
    }
  });

  test('end to end: a payment of any amount is reported with exactly its amount and its half-up fee', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 2_147_483_647 }), fc.integer({ min: 1, max: 100 }), async (amount, percent) => {
      const p = await paidPayment(amount);
      const refund = Math.max(1, Math.floor((amount * percent) / 100));
      const r = await refunded(p.paymentId, refund, amount);
      const fee = feeAt60(amount);
      const lines = (await reportOf([p.paidAt, r.createdAt])).filter((l) => l.payment_id === p.paymentId);
      expect(lines).toEqual([charge(p, amount, fee), refundLine(p, r, refund, Math.floor((fee * refund * 2 + amount) / (2 * amount)))]);
    }), { numRuns: 15 });
  });
});
