import { readFileSync } from 'node:fs';
import path from 'node:path';
import { AlipaySdk } from 'alipay-sdk';
import fc from 'fast-check';
import { unzipSync } from 'fflate';
import iconv from 'iconv-lite';
import { AlipayBillError, parseTradeBill, tradeBillCsvs } from '../providers/alipay/alipay.bill';
import { AlipayProvider } from '../providers/alipay/alipay.provider';
import { ProviderFault } from '../providers/provider';
import type { SettlementLine } from '../reconciliation/report';
import type { BillableTrade } from '../simulators/alipay/bill';
import { billPeriod, billRows, refundFees, tradeBillCsv, tradeFee } from '../simulators/alipay/bill';
import { beijingTime } from '../simulators/alipay/formats';
import type { AlipayGatewayOptions, TradeView } from '../simulators/alipay/gateway';
import { AlipayGateway, generateKeyPair } from '../simulators/alipay/gateway';

/**
 * Alipay's trade bill end to end, without Temporal or PostgreSQL: trades paid and refunded through
 * the real AlipayProvider (real alipay-sdk, RSA2 both ways) against the in-process gateway
 * simulator, then the day's bill fetched through `settlementReport`: query, 30-second link, zip,
 * GBK, preamble and summary skipped, yuan read as exact fen.
 */
const APP_ID = '2021000000000077';
const appKeys = generateKeyPair();
const alipayKeys = generateKeyPair();
/** Nothing listens there: notifications fail at once and, with no retry schedule, are dropped. */
const NOWHERE = 'http://127.0.0.1:9/webhooks/alipay';
const FIXTURE = path.join(__dirname, 'fixtures/alipay/20888144243128420156_20261202.csv.zip');
const HOUR_MS = 3_600_000;

const running: AlipayGateway[] = [];

/** A gateway of its own for each test, so that a bill holds that test's trades and no others. */
async function startAlipay(options: Partial<AlipayGatewayOptions> = {}) {
  const gateway = new AlipayGateway({
    appId: APP_ID, appPublicKey: appKeys.publicKey, alipayPrivateKey: alipayKeys.privateKey, notifyRetryScheduleMs: [], billsBeforePeriodEnd: true, ...options,
  });
  await gateway.start();
  running.push(gateway);
  const provider = new AlipayProvider({
    appId: APP_ID, privateKey: appKeys.privateKey, alipayPublicKey: alipayKeys.publicKey, gateway: gateway.gatewayUrl, notifyUrl: NOWHERE, timeoutMs: 5000,
  });
  return { gateway, provider };
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((g) => g.stop()));
});

type Alipay = Awaited<ReturnType<typeof startAlipay>>;

async function paid({ gateway, provider }: Alipay, paymentId: string, amount: number, currency = 'CNY'): Promise<void> {
  const created = await provider.authorize({
    paymentId, merchantId: 'mer_bill', amount, currency, method: { type: 'alipay' }, captureMethod: 'automatic', channel: 'qr',
    returnUrl: null, actionExpiresAt: new Date(Date.now() + HOUR_MS).toISOString(), idempotencyKey: `${paymentId}:authorize`,
  });
  expect(created.status).toBe('requires_action');
  gateway.pay(paymentId);
}

async function refunded({ provider }: Alipay, paymentId: string, refundId: string, amount: number): Promise<void> {
  const result = await provider.refund({ paymentId, refundId, reference: paymentId, amount, currency: 'CNY', idempotencyKey: `${refundId}:refund` });
  expect(result).toEqual({ status: 'succeeded' });
}

const beijingDate = (iso: string) => beijingTime(new Date(iso)).slice(0, 10);
const beijingRfc3339 = (iso: string) => `${beijingTime(new Date(iso)).replace(' ', 'T')}+08:00`;

/** Every line of the days the gateway's trades were paid or refunded on (two days if a test straddles Beijing midnight). */
async function report({ gateway, provider }: Alipay): Promise<SettlementLine[]> {
  const days = new Set(gateway.trades().flatMap((t) => [t.paidAt, ...t.refunds.map((r) => r.at)]).filter((at) => at !== undefined).map(beijingDate));
  const reports = await Promise.all([...days].map((date) => provider.settlementReport({ date, livemode: false })));
  return sorted(reports.flat());
}

const sorted = (lines: SettlementLine[]) => [...lines].sort((a, b) => `${a.payment_id}/${a.refund_id}`.localeCompare(`${b.payment_id}/${b.refund_id}`));

function view(gateway: AlipayGateway, outTradeNo: string): TradeView {
  const trade = gateway.trade(outTradeNo);
  if (!trade) throw new Error(`no trade ${outTradeNo}`);
  return trade;
}

function chargeLine(gateway: AlipayGateway, outTradeNo: string, gross: number, fee: number): SettlementLine {
  const t = view(gateway, outTradeNo);
  return {
    provider: 'alipay', provider_reference: t.tradeNo, payment_id: outTradeNo, refund_id: null, type: 'charge',
    gross, fee, net: gross - fee, currency: 'CNY', settled_at: beijingRfc3339(t.paidAt ?? ''),
  };
}

function refundLine(gateway: AlipayGateway, outTradeNo: string, refundId: string, gross: number, fee: number): SettlementLine {
  const t = view(gateway, outTradeNo);
  const at = t.refunds.find((r) => r.outRequestNo === refundId)?.at ?? '';
  return {
    provider: 'alipay', provider_reference: t.tradeNo, payment_id: outTradeNo, refund_id: refundId, type: 'refund',
    gross, fee, net: gross - fee, currency: 'CNY', settled_at: beijingRfc3339(at),
  };
}

/** The SDK as any merchant would call it, for what the provider hides (the link itself). */
function sdkFor(gateway: AlipayGateway): AlipaySdk {
  return new AlipaySdk({ appId: APP_ID, privateKey: appKeys.privateKey, alipayPublicKey: alipayKeys.publicKey, gateway: gateway.gatewayUrl, keyType: 'PKCS8', signType: 'RSA2' });
}

async function billLink(gateway: AlipayGateway, billDate: string): Promise<string> {
  const answer = await sdkFor(gateway).exec(
    'alipay.data.dataservice.bill.downloadurl.query',
    { bizContent: { bill_type: 'trade', bill_date: billDate }, timestamp: beijingTime(new Date()) },
    { validateSign: true },
  ) as { code: string; billDownloadUrl?: string };
  expect(answer.code).toBe('10000');
  return String(answer.billDownloadUrl);
}

const todayInBeijing = () => beijingTime(new Date()).slice(0, 10);
const yesterdayInBeijing = () => beijingTime(new Date(Date.now() - 24 * HOUR_MS)).slice(0, 10);

describe('the day\'s bill through AlipayProvider.settlementReport', () => {
  test('every trade paid and every refund is one exact line: fees half-up at 0.6 %, refunds give back their share', async () => {
    const alipay = await startAlipay();
    await paid(alipay, 'pay_bill_a', 8880); // fee 53.28 fen: 53
    await paid(alipay, 'pay_bill_b', 1750); // fee 10.5 fen: 11, half-up
    await paid(alipay, 'pay_bill_c', 100); // fee 0.6 fen: 1
    for (const [refundId, amount] of [['re_bill_c1', 33], ['re_bill_c2', 33], ['re_bill_c3', 34]] as const) await refunded(alipay, 'pay_bill_c', refundId, amount);
    await paid(alipay, 'pay_bill_hkd', 10_000, 'HKD'); // cross-border: not on the CNY trade bill
    await alipay.provider.authorize({
      paymentId: 'pay_bill_unpaid', merchantId: 'mer_bill', amount: 5000, currency: 'CNY', method: { type: 'alipay' }, captureMethod: 'automatic', channel: 'qr',
      returnUrl: null, actionExpiresAt: new Date(Date.now() + HOUR_MS).toISOString(), idempotencyKey: 'pay_bill_unpaid:authorize',
    });

    const g = alipay.gateway;
    expect(await report(alipay)).toEqual(sorted([
      chargeLine(g, 'pay_bill_a', 8880, 53),
      chargeLine(g, 'pay_bill_b', 1750, 11),
      chargeLine(g, 'pay_bill_c', 100, 1),
      // 1 fen of fee over three refunds: the shares round to nothing, the refund that empties the trade gives back the rest.
      refundLine(g, 'pay_bill_c', 're_bill_c1', -33, 0),
      refundLine(g, 'pay_bill_c', 're_bill_c2', -33, 0),
      refundLine(g, 'pay_bill_c', 're_bill_c3', -34, -1),
    ]));
    expect(alipay.provider.reportTimeZone).toBe('Asia/Shanghai');
  });

  test('the fee rate is the gateway\'s option; a partial refund gives back its proportional share', async () => {
    const alipay = await startAlipay({ feeRateBps: 250 });
    await paid(alipay, 'pay_rate', 12_345); // 2.5 %: 308.625 fen, 309
    await refunded(alipay, 'pay_rate', 're_rate', 4000); // 309 × 4000 / 12345 = 100.12: 100
    const g = alipay.gateway;
    expect(await report(alipay)).toEqual(sorted([chargeLine(g, 'pay_rate', 12_345, 309), refundLine(g, 'pay_rate', 're_rate', -4000, -100)]));
  });

  test('a day with no trades is a bill all the same: header and summary, no line', async () => {
    const alipay = await startAlipay({ billsBeforePeriodEnd: false });
    expect(await alipay.provider.settlementReport({ date: yesterdayInBeijing(), livemode: false })).toEqual([]);
    const zip = new Uint8Array(await (await fetch(await billLink(alipay.gateway, yesterdayInBeijing()))).arrayBuffer());
    const [detail] = tradeBillCsvs(zip);
    expect(detail).toContain('支付宝交易号,商户订单号,业务类型');
    expect(detail).toContain('#交易合计：0笔，商家实收共0.00元');
  });
});

describe('a bill that cannot be had is a ProviderFault', () => {
  test('the day is not over: Alipay has not generated its bill (isp.bill_not_exist), asked again later', async () => {
    const alipay = await startAlipay({ billsBeforePeriodEnd: false });
    const fault = alipay.provider.settlementReport({ date: todayInBeijing(), livemode: false });
    await expect(fault).rejects.toBeInstanceOf(ProviderFault);
    await expect(fault).rejects.toMatchObject({ retryable: true, message: expect.stringContaining('isp.bill_not_exist') });
  });

  test('a refused query is not retried; a system error or a network failure is', async () => {
    const alipay = await startAlipay();
    await expect(alipay.provider.settlementReport({ date: '2026-02-30', livemode: false })).rejects.toMatchObject({
      retryable: false, message: expect.stringContaining('isv.invalid_arguments'),
    });
    await expect(alipay.provider.settlementReport({ date: 'yesterday', livemode: false })).rejects.toMatchObject({ retryable: false });
    alipay.gateway.injectFault({ kind: 'system_error', method: 'alipay.data.dataservice.bill.downloadurl.query' });
    await expect(alipay.provider.settlementReport({ date: todayInBeijing(), livemode: false })).rejects.toMatchObject({ retryable: true });
    await alipay.gateway.stop();
    await expect(alipay.provider.settlementReport({ date: todayInBeijing(), livemode: false })).rejects.toMatchObject({ retryable: true });
  });

  test('the link works for its lifetime only; an expired one is refused (403), and the provider asks for a fresh one', async () => {
    const alipay = await startAlipay({ billUrlTtlMs: 500 });
    const link = await billLink(alipay.gateway, todayInBeijing());
    const fresh = await fetch(link);
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get('content-type')).toBe('application/zip');
    expect(tradeBillCsvs(new Uint8Array(await fresh.arrayBuffer()))).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 600));
    const expired = await fetch(link);
    expect(expired.status).toBe(403);
    expect(await expired.text()).toContain('AccessDenied');

    const instant = await startAlipay({ billUrlTtlMs: 0 });
    await expect(instant.provider.settlementReport({ date: todayInBeijing(), livemode: false })).rejects.toMatchObject({
      retryable: true, message: expect.stringContaining('403'),
    });
  });
});

test('each injected discrepancy shows in the fetched lines, and clearing them gives the true bill back', async () => {
  const alipay = await startAlipay();
  const g = alipay.gateway;
  await paid(alipay, 'pay_d_missing', 8880);
  await paid(alipay, 'pay_d_amount', 1750);
  await paid(alipay, 'pay_d_fee', 1000);
  await paid(alipay, 'pay_d_refund', 2000); // fee 12 fen
  await refunded(alipay, 'pay_d_refund', 're_d_refund', 500); // gives back 3
  const truth = await report(alipay);

  g.injectBillDiscrepancy({ kind: 'missing_line', outTradeNo: 'pay_d_missing' });
  g.injectBillDiscrepancy({ kind: 'amount', outTradeNo: 'pay_d_amount', amount: '17.05' });
  g.injectBillDiscrepancy({ kind: 'fee', outTradeNo: 'pay_d_fee', fee: '0.99' });
  g.injectBillDiscrepancy({ kind: 'amount', outTradeNo: 'pay_d_refund', outRequestNo: 're_d_refund', amount: '4.00' });
  g.injectBillDiscrepancy({ kind: 'unknown_trade', amount: '66.60', outTradeNo: 'pay_d_ghost' });
  g.injectBillDiscrepancy({ kind: 'unknown_trade', amount: '1.23' });
  expect(() => g.injectBillDiscrepancy({ kind: 'amount', outTradeNo: 'pay_d_amount', amount: '17.055' })).toThrow(TypeError);

  const lines = await report(alipay);
  const ours = lines.filter((l) => l.payment_id?.startsWith('pay_d_'));
  expect(ours).toEqual(sorted([
    chargeLine(g, 'pay_d_amount', 1705, 11), // the amount is off, the fee is Alipay's on the true amount
    chargeLine(g, 'pay_d_fee', 1000, 99),
    chargeLine(g, 'pay_d_refund', 2000, 12),
    refundLine(g, 'pay_d_refund', 're_d_refund', -400, -3),
    {
      provider: 'alipay', provider_reference: expect.stringMatching(/^\d{28}$/), payment_id: 'pay_d_ghost', refund_id: null, type: 'charge',
      gross: 6660, fee: 40, net: 6620, currency: 'CNY', settled_at: expect.stringMatching(/\+08:00$/),
    },
  ]));
  const ghost = lines.find((l) => l.payment_id === 'pay_d_ghost');
  expect(g.trades().map((t) => t.tradeNo)).not.toContain(ghost?.provider_reference);
  const unnamed = lines.filter((l) => !l.payment_id?.startsWith('pay_d_'));
  expect(unnamed).toEqual([expect.objectContaining({ type: 'charge', gross: 123, fee: 1, net: 122, payment_id: expect.stringMatching(/^unknown_/) })]);
  expect(g.billDiscrepancies()).toHaveLength(6);

  g.clearBillDiscrepancies();
  expect(await report(alipay)).toEqual(truth);
});

describe('a bill the simulator wrote (fixture): a zip of GBK CSVs', () => {
  /*
   * Made by the gateway (2026-12-02, Beijing): pay_fixture_1 (88.80, a subject with a full-width
   * comma and quotes, a remark with '#') and pay_fixture_2 (17.50) paid, 5.00 of pay_fixture_2
   * refunded as re_fixture_1, one trade never paid; then the bill queried and downloaded.
   */
  const zip = new Uint8Array(readFileSync(FIXTURE));

  test('the detail and the summary are GBK, not UTF-8', () => {
    const entries = Object.values(unzipSync(zip));
    expect(entries).toHaveLength(2);
    for (const bytes of entries) {
      expect(() => new TextDecoder('utf-8', { fatal: true }).decode(bytes)).toThrow();
      expect(Buffer.from(bytes).includes(iconv.encode('#支付宝业务', 'gbk'))).toBe(true);
    }
  });

  test('parsed: preamble and summary skipped, Chinese headers read, exact fen, Beijing times', () => {
    const csvs = tradeBillCsvs(zip);
    expect(csvs).toHaveLength(1); // the summary (业务明细(汇总)) is not a detail
    expect(csvs[0]).toMatch(/^#支付宝业务明细查询\r\n#账号：\[\d{20}\]\r\n#起始日期：\[2026年12月02日 00:00:00\] {3}终止日期：\[2026年12月03日 00:00:00\]/);
    expect(csvs[0]).toContain('#-----------------------------------------业务明细列表结束------------------------------------');
    expect(parseTradeBill(csvs[0] ?? '')).toEqual([
      {
        provider: 'alipay', provider_reference: '2026120222001293454680858079', payment_id: 'pay_fixture_1', refund_id: null, type: 'charge',
        gross: 8880, fee: 53, net: 8827, currency: 'CNY', settled_at: '2026-12-02T13:09:35+08:00',
      },
      {
        provider: 'alipay', provider_reference: '2026120222001157159229494259', payment_id: 'pay_fixture_2', refund_id: null, type: 'charge',
        gross: 1750, fee: 11, net: 1739, currency: 'CNY', settled_at: '2026-12-02T13:09:35+08:00',
      },
      {
        provider: 'alipay', provider_reference: '2026120222001157159229494259', payment_id: 'pay_fixture_2', refund_id: 're_fixture_1', type: 'refund',
        gross: -500, fee: -3, net: -497, currency: 'CNY', settled_at: '2026-12-02T13:09:36+08:00',
      },
    ]);
  });

  test('a malformed row is refused, naming its line', () => {
    const csv = tradeBillCsvs(zip)[0] ?? '';
    const firstRow = csv.split('\r\n')[5] ?? '';
    const withRow = (row: string) => csv.replace(firstRow, row);
    expect(() => parseTradeBill(withRow(firstRow.replace(',88.80,88.80,', ',88.80,88.805,')))).toThrow(/^line 6: 商家实收（元） '88.805' is not an amount in yuan$/);
    expect(() => parseTradeBill(withRow(firstRow.replace(',88.80,88.80,', ',-88.80,-88.80,')))).toThrow(/line 6: a 交易 row with 商家实收（元） -88.80/);
    expect(() => parseTradeBill(withRow(firstRow.replace('交易\t', '转账\t')))).toThrow(/line 6: 业务类型 '转账' is neither 交易 nor 退款/);
    expect(() => parseTradeBill(withRow(firstRow.replace(',0.53,', ',0.5x,')))).toThrow(/line 6: 服务费（元） '0.5x'/);
    expect(() => parseTradeBill(withRow(firstRow.replace('2026-12-02 13:09:35,2026-12-02 13:09:35', '2026-12-02 13:09:35,2026-12-32 13:09:35')))).toThrow(/line 6: 完成时间/);
    expect(() => parseTradeBill(withRow(`${firstRow},extra`))).toThrow(/line 6: 26 cells where the header has 25/);
    expect(() => parseTradeBill(csv.replace('服务费（元）', '手续费（元）'))).toThrow(/line 5: the header has no 服务费（元） column/);
    expect(() => parseTradeBill('#支付宝业务明细查询\r\n#导出时间：[2026年12月02日 13:09:36]\r\n')).toThrow(AlipayBillError);
    expect(() => tradeBillCsvs(new TextEncoder().encode('not a zip'))).toThrow(AlipayBillError);
  });
});

test('property: any fen amounts, written as yuan in a bill, read back exactly (fees and refunds included)', () => {
  const period = billPeriod('2026-06-15');
  if (!period) throw new Error('no period');
  const at = (minute: number) => new Date(period.startMs + minute * 60_000);
  const trade = fc.record({
    total: fc.integer({ min: 1, max: 10_000_000_000 }),
    refundCuts: fc.array(fc.integer({ min: 1, max: 10_000_000_000 }), { maxLength: 3 }),
  });
  fc.assert(
    fc.property(fc.array(trade, { minLength: 1, maxLength: 6 }), fc.integer({ min: 0, max: 10_000 }), (drawn, bps) => {
      const trades: BillableTrade[] = drawn.map(({ total, refundCuts }, i) => {
        const refunds: number[] = [];
        let left = total;
        for (const cut of refundCuts) {
          const amount = Math.min(cut, left);
          if (amount > 0) refunds.push(amount);
          left -= amount;
        }
        return {
          tradeNo: `2026061522001${String(i).padStart(15, '0')}`, outTradeNo: `pay_prop_${i}`, subject: `商品 ${i}`, currency: 'CNY', totalMinor: total,
          createdAt: at(i), paidAt: at(i), refunds: refunds.map((amountMinor, j) => ({ outRequestNo: `re_prop_${i}_${j}`, amountMinor, at: at(100 + i * 4 + j) })),
        };
      });
      const csv = tradeBillCsv({ account: '20880000000000000156', period, rows: billRows(trades, period, bps), exportedAt: at(1000) });
      const lines = parseTradeBill(iconv.decode(iconv.encode(csv, 'gbk'), 'gbk'));
      for (const t of trades) {
        const fee = tradeFee(t.totalMinor, bps);
        const charge = lines.find((l) => l.payment_id === t.outTradeNo && l.type === 'charge');
        expect(charge).toMatchObject({ gross: t.totalMinor, fee, net: t.totalMinor - fee });
        const refunds = lines.filter((l) => l.payment_id === t.outTradeNo && l.type === 'refund');
        expect(refunds.map((l) => l.gross)).toEqual(t.refunds.map((r) => -r.amountMinor));
        expect(refunds.map((l) => 0 - l.fee)).toEqual(refundFees(t.totalMinor, fee, t.refunds.map((r) => r.amountMinor)));
        // Refunded in full, a trade's fee comes back to the fen.
        if (t.refunds.reduce((sum, r) => sum + r.amountMinor, 0) === t.totalMinor) expect(refunds.reduce((sum, l) => sum - l.fee, 0)).toBe(fee);
      }
    }),
    { numRuns: 300 },
  );
});
