import fc from 'fast-check';
import type { AuthorizeRequest } from '../providers/provider';
import { ProviderFault } from '../providers/provider';
import {
  TRADE_TYPE_OF_CHANNEL, beijingRfc3339, declineOf, errorOf, fenProblem, jsapiMessage, notifyVerdict, orderBody, refundResultOf, stateOf,
} from '../providers/wechat_pay/wechatpay.mapper';

const request = (over: Partial<AuthorizeRequest> = {}): AuthorizeRequest => ({
  paymentId: 'pay_abc', merchantId: 'mer_1', amount: 1234, currency: 'CNY', method: { type: 'wechat_pay' }, captureMethod: 'automatic',
  channel: 'qr', returnUrl: null, actionExpiresAt: '2026-12-01T02:34:56.000Z', idempotencyKey: 'k', ...over,
});
const ids = { appid: 'wxapp', mchid: '1900000001', notifyUrl: 'https://shop.example/webhooks/wechat_pay' };

describe('WeChat Pay amounts: integers in fen, CNY only in the domestic API', () => {
  test('any amount of 1 fen up to the int32 limit goes as it is; others are a problem before any call', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 2_147_483_647 }), (fen) => {
      expect(fenProblem(fen, 'CNY')).toBeUndefined();
      expect(orderBody(request({ amount: fen }), 'native', ids).amount).toEqual({ total: fen, currency: 'CNY' });
    }));
    fc.assert(fc.property(fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 1, max: 1_000_000_000 }).map((n) => 2_147_483_647 + n), fc.double({ noInteger: true })), (bad) => {
      expect(fenProblem(bad, 'CNY')).toMatch(/fen/);
    }));
    expect(fenProblem(100, 'HKD')).toMatch(/CNY only/);
    expect(fenProblem(100, 'cny')).toBeUndefined();
  });

  test('the order body: our payment id is out_trade_no, time_expire in Beijing time, payer and scene where the product needs them', () => {
    expect(beijingRfc3339(new Date('2026-12-01T02:34:56.000Z'))).toBe('2026-12-01T10:34:56+08:00');
    expect(orderBody(request(), 'native', ids)).toEqual({
      appid: 'wxapp', mchid: '1900000001', description: 'Payment pay_abc', out_trade_no: 'pay_abc', time_expire: '2026-12-01T10:34:56+08:00',
      notify_url: ids.notifyUrl, amount: { total: 1234, currency: 'CNY' },
    });
    expect(orderBody(request({ method: { type: 'wechat_pay', token: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' }, channel: 'app' }), 'jsapi', ids).payer).toEqual({ openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' });
    expect(orderBody(request({ channel: 'phone', clientIp: '203.0.113.7' }), 'h5', ids).scene_info).toEqual({ payer_client_ip: '203.0.113.7', h5_info: { type: 'Wap' } });
    expect(TRADE_TYPE_OF_CHANNEL).toMatchObject({ qr: 'native', pos: 'native', web: 'jsapi', app: 'jsapi', phone: 'h5', subscription: null });
    expect(jsapiMessage({ appId: 'wx1', timeStamp: '1700000000', nonceStr: 'n', package: 'prepay_id=p' })).toBe('wx1\n1700000000\nn\nprepay_id=p\n');
  });
});

describe('WeChat Pay states', () => {
  test('trade states: paid is captured (with its amount), waiting is requires_action, closed is canceled; an unknown state is never a success', () => {
    expect(stateOf({ out_trade_no: 'p', trade_state: 'SUCCESS', amount: { total: 500 } })).toEqual({ status: 'captured', reference: 'p', amountCaptured: 500 });
    expect(stateOf({ out_trade_no: 'p', trade_state: 'REFUND', amount: { total: 500 } })).toMatchObject({ status: 'captured' });
    expect(stateOf({ out_trade_no: 'p', trade_state: 'NOTPAY' }).status).toBe('requires_action');
    expect(stateOf({ out_trade_no: 'p', trade_state: 'USERPAYING' }).status).toBe('requires_action');
    expect(stateOf({ out_trade_no: 'p', trade_state: 'CLOSED' }).status).toBe('canceled');
    expect(stateOf({ out_trade_no: 'p', trade_state: 'PAYERROR' }).status).toBe('failed');
    expect(() => stateOf({ out_trade_no: 'p', trade_state: 'PAID_SOMEHOW' as never })).toThrow(ProviderFault);
  });

  test('refund statuses: SUCCESS succeeded, PROCESSING pending, CLOSED declined, ABNORMAL a final fault for an operator', () => {
    expect(refundResultOf({ status: 'SUCCESS' })).toEqual({ status: 'succeeded' });
    expect(refundResultOf({ status: 'PROCESSING' })).toEqual({ status: 'pending' });
    expect(refundResultOf({ status: 'CLOSED' })).toMatchObject({ status: 'declined', code: 'refund_closed' });
    let abnormal: unknown;
    try {
      refundResultOf({ status: 'ABNORMAL', out_refund_no: 're_1' });
    } catch (err) {
      abnormal = err;
    }
    expect(abnormal).toBeInstanceOf(ProviderFault);
    expect((abnormal as ProviderFault).retryable).toBe(false);
    expect(() => refundResultOf({ status: 'WHATEVER' })).toThrow(ProviderFault);
  });

  test('errors: nothing sent is not processed; 5xx, timeouts and unverifiable answers are unknown; 4xx are answers', () => {
    const refused = errorOf('order', { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' });
    expect('fault' in refused && refused.fault.notProcessed).toBe(true);
    const timeout = errorOf('order', { code: 'ECONNABORTED', message: 'timeout of 10000ms exceeded' });
    expect('fault' in timeout && timeout.fault.outcomeUnknown).toBe(true);
    const system = errorOf('refund', { message: 'x', response: { status: 500, data: { code: 'SYSTEM_ERROR', message: 'busy' } } });
    expect('fault' in system && system.fault.outcomeUnknown && system.fault.retryable).toBe(true);
    const forged = errorOf('order', { code: 'EV3_RES_HEADER_SIGNATURE_DIGEST', message: 'bad signature', response: { status: 200, data: {} } });
    expect('fault' in forged && forged.fault.outcomeUnknown).toBe(true);
    const signature = errorOf('order', { message: 'x', response: { status: 401, data: { code: 'SIGN_ERROR', message: 'bad' } } });
    expect('fault' in signature && signature.fault.retryable).toBe(false);
    expect(errorOf('order', { message: 'x', response: { status: 400, data: { code: 'ORDERPAID', message: '订单已支付' } } })).toEqual({ answered: { status: 400, code: 'ORDERPAID', message: '订单已支付' } });
    // The merchant's balance running short is a passing refusal, named so the late-payment refund waits it out.
    expect(declineOf({ status: 403, code: 'NOT_ENOUGH', message: '余额不足' })).toMatchObject({ code: 'seller_balance_not_enough' });
    expect(declineOf({ status: 400, code: 'ORDER_CLOSED', message: 'closed' })).toMatchObject({ code: 'order_closed' });
  });
});

describe('notifications are checked against our payment', () => {
  const payment = { id: 'pay_1', provider: 'wechat_pay' as const, amount: 880, currency: 'CNY' };
  const paid = { mchid: '1900000001', appid: 'wxapp', out_trade_no: 'pay_1', trade_state: 'SUCCESS', amount: { total: 880, currency: 'CNY' } };
  const mine = { mchid: '1900000001', appid: 'wxapp' };

  test('a paid order of ours is delivered; another merchant, app, amount, currency or an unknown order is refused', () => {
    expect(notifyVerdict('n1', 'TRANSACTION.SUCCESS', paid, mine, payment)).toEqual({ kind: 'deliver', notification: { provider: 'wechat_pay', eventId: 'n1', paymentId: 'pay_1', outcome: 'action_succeeded' } });
    expect(notifyVerdict('n1', 'TRANSACTION.SUCCESS', { ...paid, mchid: 'other' }, mine, payment)).toMatchObject({ kind: 'reject', code: 'mchid_mismatch' });
    expect(notifyVerdict('n1', 'TRANSACTION.SUCCESS', { ...paid, appid: 'other' }, mine, payment)).toMatchObject({ kind: 'reject', code: 'appid_mismatch' });
    expect(notifyVerdict('n1', 'TRANSACTION.SUCCESS', { ...paid, amount: { total: 881, currency: 'CNY' } }, mine, payment)).toMatchObject({ kind: 'reject', code: 'amount_mismatch' });
    expect(notifyVerdict('n1', 'TRANSACTION.SUCCESS', paid, mine, undefined)).toMatchObject({ kind: 'reject', code: 'unknown_trade' });
    expect(notifyVerdict('n1', 'TRANSACTION.SUCCESS', paid, mine, { ...payment, provider: 'alipay' as never })).toMatchObject({ kind: 'reject', code: 'unknown_trade' });
  });

  test('refund notifies become refund news; PROCESSING is acknowledged only', () => {
    const refund = { mchid: '1900000001', out_trade_no: 'pay_1', out_refund_no: 're_1', refund_status: 'SUCCESS', amount: { total: 880, refund: 300 } };
    expect(notifyVerdict('n2', 'REFUND.SUCCESS', refund, mine, payment)).toEqual({
      kind: 'refund', notification: { provider: 'wechat_pay', eventId: 'n2', paymentId: 'pay_1', refundId: 're_1', amount: 300, status: 'succeeded' },
    });
    expect(notifyVerdict('n3', 'REFUND.ABNORMAL', { ...refund, refund_status: 'ABNORMAL' }, mine, payment)).toMatchObject({ kind: 'refund', notification: { status: 'failed', failure: { code: 'refund_abnormal' } } });
    expect(notifyVerdict('n4', 'REFUND.SUCCESS', { ...refund, refund_status: 'PROCESSING' }, mine, payment).kind).toBe('acknowledge');
  });
});
