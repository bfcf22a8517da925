import fc from 'fast-check';
import { currencyExponent, fromMajorUnitString, toMajorUnitString } from '../domain/money';
import {
  ALIPAY_CURRENCIES, PRODUCT_OF_CHANNEL, REFUND_REFUSALS, answerFault, beijingTime, declineOf, fromAlipayAmount, normalizeAnswer, notifyVerdict, stateOf,
  toAlipayAmount,
} from '../providers/alipay/alipay.mapper';

const value = (minor: number, currency: string) => {
  const converted = toAlipayAmount(minor, currency);
  if ('problem' in converted) throw new Error(converted.problem);
  return converted.value;
};

describe('Alipay amounts: decimal strings in major units, exact', () => {
  test('CNY and HKD have two decimals, JPY none', () => {
    expect(value(1234, 'CNY')).toBe('12.34');
    expect(value(1, 'cny')).toBe('0.01');
    expect(value(100_050, 'HKD')).toBe('1000.50');
    expect(value(7, 'HKD')).toBe('0.07');
    expect(value(500, 'JPY')).toBe('500');
    expect(value(10_000_000_000, 'CNY')).toBe('100000000.00'); // Alipay's ceiling, exactly
  });

  test('what Alipay cannot take is a problem before any call', () => {
    expect(toAlipayAmount(10_000_000_001, 'CNY')).toHaveProperty('problem');
    expect(toAlipayAmount(100_000_001, 'JPY')).toHaveProperty('problem');
    expect(toAlipayAmount(1000, 'BRL')).toHaveProperty('problem');
    expect(toAlipayAmount(1000, 'KWD')).toHaveProperty('problem');
    expect(toAlipayAmount(0, 'CNY')).toHaveProperty('problem');
    expect(toAlipayAmount(1.5, 'CNY')).toHaveProperty('problem');
  });

  test('parsing back refuses anything inexact', () => {
    expect(fromAlipayAmount('12.34', 'CNY')).toBe(1234);
    expect(fromAlipayAmount('12.3', 'CNY')).toBe(1230);
    expect(fromAlipayAmount('0.07', 'HKD')).toBe(7);
    expect(fromAlipayAmount('500', 'JPY')).toBe(500);
    expect(fromAlipayAmount('500.00', 'JPY')).toBe(500); // trailing zeros are exact
    expect(fromAlipayAmount('500.5', 'JPY')).toBeUndefined();
    expect(fromAlipayAmount('12.345', 'CNY')).toBeUndefined();
    for (const bad of ['', '1e3', '-1.00', ' 1.00', '1,00', '0x10', '1.', '.5', 'NaN']) expect(fromAlipayAmount(bad, 'CNY')).toBeUndefined();
  });

  const alipayAmount = fc.constantFrom(...ALIPAY_CURRENCIES).chain((currency) => {
    const exponent = currencyExponent(currency) ?? 0;
    return fc.tuple(fc.constant(currency), fc.integer({ min: 1, max: 100_000_000 * 10 ** exponent }));
  });

  test('property: minor → Alipay string → minor is the identity, with exactly the currency\'s digits', () => {
    fc.assert(
      fc.property(alipayAmount, ([currency, minor]) => {
        const text = value(minor, currency);
        const exponent = currencyExponent(currency) ?? 0;
        expect(text).toMatch(exponent === 0 ? /^[1-9]\d*$/ : new RegExp(`^(0|[1-9]\\d*)\\.\\d{${exponent}}$`));
        expect(BigInt(text.replace('.', ''))).toBe(BigInt(minor)); // the digits are the minor amount, no float rounding
        expect(fromAlipayAmount(text, currency)).toBe(minor);
      }),
      { numRuns: 2000 },
    );
  });

  test('property: any major-unit string with at most the currency\'s digits round-trips', () => {
    const currencies = ['CNY', 'HKD', 'JPY', 'KWD', 'CLF', 'USD'];
    fc.assert(
      fc.property(fc.constantFrom(...currencies), fc.bigInt({ min: 0n, max: 10n ** 15n }), (currency, minor) => {
        const text = toMajorUnitString(Number(minor), currency);
        expect(fromMajorUnitString(text, currency)).toBe(Number(minor));
        expect(fromMajorUnitString(`${text}${text.includes('.') ? '' : '.'}0`, currency)).toBe(Number(minor));
      }),
      { numRuns: 2000 },
    );
  });
});

test('time_expire is Beijing time, whatever the server\'s zone', () => {
  expect(beijingTime(new Date('2026-11-25T16:30:05.999Z'))).toBe('2026-11-26 00:30:05');
  expect(beijingTime(new Date('2026-06-30T23:59:59Z'))).toBe('2026-07-01 07:59:59');
});

test('channels map to Alipay products; subscriptions have none', () => {
  expect(PRODUCT_OF_CHANNEL.qr).toBe('precreate');
  expect(PRODUCT_OF_CHANNEL.pos).toBe('precreate');
  expect(PRODUCT_OF_CHANNEL.web).toBe('page');
  expect(PRODUCT_OF_CHANNEL.phone).toBe('wap');
  expect(PRODUCT_OF_CHANNEL.subscription).toBeNull();
});

test('trade statuses: paid is captured with its exact amount; unknown values never map to success', () => {
  expect(stateOf({ code: '10000', outTradeNo: 'pay_1', tradeStatus: 'TRADE_SUCCESS', totalAmount: '88.80' }, 'CNY')).toEqual({ status: 'captured', reference: 'pay_1', amountCaptured: 8880 });
  expect(stateOf({ code: '10000', outTradeNo: 'pay_1', tradeStatus: 'TRADE_FINISHED', totalAmount: '500' }, 'JPY')).toEqual({ status: 'captured', reference: 'pay_1', amountCaptured: 500 });
  expect(stateOf({ code: '10000', outTradeNo: 'pay_1', tradeStatus: 'WAIT_BUYER_PAY', totalAmount: '1.00' }, 'CNY').status).toBe('requires_action');
  expect(stateOf({ code: '10000', outTradeNo: 'pay_1', tradeStatus: 'TRADE_CLOSED', totalAmount: '1.00' }, 'CNY').status).toBe('canceled');
  expect(stateOf({ code: '10000', outTradeNo: 'pay_1', tradeStatus: 'TRADE_PENDING', totalAmount: '1.00' }, 'CNY').status).toBe('unknown');
  expect(stateOf({ code: '10000', outTradeNo: 'pay_1', tradeStatus: 'TRADE_SUCCESS', totalAmount: '1.5x' }, 'CNY').status).toBe('unknown');
  expect(stateOf({ code: '40004', subCode: 'ACQ.TRADE_NOT_EXIST' }, 'CNY').status).toBe('unknown');
});

test('prefixed sub-codes read like the plain ones; a trade in another currency than the payment is unknown', () => {
  expect(normalizeAnswer({ code: '40004', subCode: 'aop.ACQ.SYSTEM_ERROR' }).subCode).toBe('ACQ.SYSTEM_ERROR');
  expect(normalizeAnswer({ code: '40004', subCode: 'ACQ.TRADE_NOT_EXIST' }).subCode).toBe('ACQ.TRADE_NOT_EXIST');
  expect(answerFault('alipay.trade.refund', normalizeAnswer({ code: '40004', subCode: 'aop.ACQ.SYSTEM_ERROR' }))).toMatchObject({ retryable: true, outcomeUnknown: true });
  expect(REFUND_REFUSALS.has('ACQ.SOMETHING_UNDOCUMENTED')).toBe(false);
  const paidJpy = { code: '10000', outTradeNo: 'pay_1', tradeStatus: 'TRADE_SUCCESS', totalAmount: '500', transCurrency: 'JPY' };
  expect(stateOf(paidJpy)).toMatchObject({ status: 'captured', amountCaptured: 500 });
  expect(stateOf(paidJpy, 'JPY')).toMatchObject({ status: 'captured', amountCaptured: 500 });
  expect(stateOf(paidJpy, 'CNY').status).toBe('unknown');
  expect(stateOf({ ...paidJpy, transCurrency: undefined }, 'JPY')).toMatchObject({ status: 'captured', amountCaptured: 500 });
});

test('answers: system errors are re-sent, configuration errors are not, business refusals are results', () => {
  const systemError = answerFault('alipay.trade.refund', { code: '40004', subCode: 'ACQ.SYSTEM_ERROR' });
  expect(systemError).toMatchObject({ retryable: true, outcomeUnknown: true });
  expect(answerFault('alipay.trade.query', { code: '20000', subCode: 'aop.unknow-error' })).toMatchObject({ retryable: true, outcomeUnknown: true });
  expect(answerFault('alipay.trade.query', { code: '40002', subCode: 'isv.invalid-signature' })).toMatchObject({ retryable: false });
  expect(answerFault('alipay.trade.close', { code: '40004', subCode: 'ACQ.TRADE_STATUS_ERROR' })).toBeUndefined();
  expect(answerFault('alipay.trade.close', { code: '10000' })).toBeUndefined();
  expect(declineOf({ code: '40004', subCode: 'ACQ.TRADE_HAS_CLOSE', subMsg: 'closed' })).toEqual({ code: 'trade_has_close', message: 'Alipay refused: closed' });
});

describe('a verified notify is checked against our own payment', () => {
  const payment = { id: 'pay_1', provider: 'alipay' as const, amount: 8880, currency: 'CNY' };
  const notify = { notify_id: 'n1', app_id: 'app_1', out_trade_no: 'pay_1', total_amount: '88.80', trade_status: 'TRADE_SUCCESS' };

  test('ours and paid: handed to the workflow, deduplicated by notify_id', () => {
    expect(notifyVerdict(notify, 'app_1', payment)).toEqual({
      kind: 'deliver', notification: { provider: 'alipay', eventId: 'n1', paymentId: 'pay_1', outcome: 'action_succeeded' },
    });
  });

  test.each([
    ['another app', { app_id: 'app_2' }, payment, 'app_id_mismatch'],
    ['another amount', { total_amount: '88.81' }, payment, 'amount_mismatch'],
    ['an amount with too many digits', { total_amount: '88.800001' }, payment, 'amount_mismatch'],
    ['another currency', { trans_currency: 'HKD' }, payment, 'currency_mismatch'],
    ['no notify_id', { notify_id: '' }, payment, 'missing_notify_id'],
  ])('%s: rejected', (_what, change, p, code) => {
    expect(notifyVerdict({ ...notify, ...change }, 'app_1', p)).toMatchObject({ kind: 'reject', code });
  });

  test('a trade that is not an Alipay payment of ours: rejected', () => {
    expect(notifyVerdict(notify, 'app_1', undefined)).toMatchObject({ kind: 'reject', code: 'unknown_trade' });
    expect(notifyVerdict(notify, 'app_1', { ...payment, provider: 'sandbox' })).toMatchObject({ kind: 'reject', code: 'unknown_trade' });
  });

  test('refund notices and other statuses are acknowledged without waking the payment', () => {
    expect(notifyVerdict({ ...notify, refund_fee: '10.00', out_biz_no: 're_1' }, 'app_1', payment).kind).toBe('acknowledge');
    expect(notifyVerdict({ ...notify, trade_status: 'TRADE_CLOSED' }, 'app_1', payment).kind).toBe('acknowledge');
    expect(notifyVerdict({ ...notify, trade_status: 'WAIT_BUYER_PAY' }, 'app_1', payment).kind).toBe('acknowledge');
  });

  test('HKD and JPY amounts compare exactly', () => {
    expect(notifyVerdict({ ...notify, trans_currency: 'HKD', total_amount: '88.80' }, 'app_1', { ...payment, currency: 'HKD' }).kind).toBe('deliver');
    expect(notifyVerdict({ ...notify, trans_currency: 'JPY', total_amount: '8880' }, 'app_1', { ...payment, currency: 'JPY' }).kind).toBe('deliver');
    expect(notifyVerdict({ ...notify, trans_currency: 'JPY', total_amount: '88.80' }, 'app_1', { ...payment, currency: 'JPY' }).kind).toBe('reject');
    // Without trans_currency the amount is read in the payment's own currency.
    expect(notifyVerdict({ ...notify, total_amount: '8880' }, 'app_1', { ...payment, currency: 'JPY' }).kind).toBe('deliver');
    expect(notifyVerdict({ ...notify, total_amount: '88.80' }, 'app_1', { ...payment, currency: 'JPY' }).kind).toBe('reject');
  });
});
