import fc from 'fast-check';
import { newId } from '../domain/ids';
import type { RoutingConfig } from '../routing/rules';
import { feeOf, matches, route } from '../routing/rules';

const config = (c: Partial<RoutingConfig>): RoutingConfig => ({ rules: [], fees: {}, default: {}, ...c });
const card = (id: string, amount = 1000, currency = 'EUR') => ({ id, amount, currency, method: 'card' as const, channel: 'web' as const });
const all = () => true;

test('a 70/30 split sends each provider its share over 2 000 payments (within 4 points), and the same payment always to the same provider', () => {
  const split = config({ rules: [{ if: {}, split: [{ provider: 'stripe', weight: 70 }, { provider: 'sandbox', weight: 30 }] }] });
  const ids = Array.from({ length: 2000 }, () => newId('pay'));
  const chosen = ids.map((id) => route(split, card(id), ['sandbox'], all).candidates[0]);
  const share = chosen.filter((p) => p === 'stripe').length / ids.length;
  expect(share).toBeGreaterThan(0.66);
  expect(share).toBeLessThan(0.74);
  for (const id of ids.slice(0, 50)) expect(route(split, card(id), ['sandbox'], all).candidates).toEqual(route(split, card(id), ['sandbox'], all).candidates);
  // The one not chosen stays as the failover.
  expect(new Set(ids.map((id) => route(split, card(id), ['sandbox'], all).candidates.length))).toEqual(new Set([2]));
});

test('the first matching rule decides; none matching falls to the merchant default, then the built-in list', () => {
  const c = config({
    rules: [
      { id: 'big-eur', if: { currency: 'EUR', amount_gte: 10_000 }, providers: ['stripe', 'sandbox'] },
      { if: { 'payment_method.type': 'card' }, providers: ['sandbox'] },
    ],
    default: { alipay: ['alipay', 'sandbox'] },
  });
  expect(route(c, card('pay_1', 10_000), [], all)).toEqual({ rule: 'big-eur', strategy: 'priority', candidates: ['stripe', 'sandbox'] });
  expect(route(c, card('pay_1', 9_999), [], all)).toEqual({ rule: 'rules[1]', strategy: 'priority', candidates: ['sandbox'] });
  const alipay = { id: 'pay_2', amount: 100, currency: 'CNY', method: 'alipay' as const, channel: 'qr' as const };
  expect(route(c, alipay, ['sandbox'], all)).toEqual({ rule: 'default', strategy: 'default', candidates: ['alipay', 'sandbox'] });
  expect(route(c, alipay, ['sandbox'], (p) => p !== 'alipay').candidates).toEqual(['sandbox']); // alipay not configured in this mode
  expect(route(undefined, { ...alipay, method: 'wechat_pay' }, ['sandbox'], all)).toEqual({ rule: 'default', strategy: 'default', candidates: ['sandbox'] });
});

test('lowest_fee orders providers by what each charges for this payment', () => {
  const c = config({
    rules: [{ if: { 'payment_method.type': 'card' }, strategy: 'lowest_fee', providers: ['sandbox', 'stripe'] }],
    fees: { stripe: { card: { percent: 2.9, fixed: { EUR: 30 } } }, sandbox: { card: { percent: 1.5, fixed: { EUR: 100 } } } },
  });
  expect(feeOf(c, 'stripe', card('x', 1000))).toBe(59);
  expect(feeOf(c, 'sandbox', card('x', 1000))).toBe(115);
  expect(route(c, card('x', 1000), [], all).candidates).toEqual(['stripe', 'sandbox']);
  expect(route(c, card('x', 100_000), [], all).candidates).toEqual(['sandbox', 'stripe']);
  // A currency without a fixed fee pays the percentage only.
  expect(feeOf(c, 'stripe', card('x', 1000, 'USD'))).toBe(29);
});

test('conditions: amount_gte inclusive, amount_lt exclusive, every named field must match', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 1, max: 1_000_000 }), (amount, bound) => {
      expect(matches({ amount_gte: bound }, card('x', amount))).toBe(amount >= bound);
      expect(matches({ amount_lt: bound }, card('x', amount))).toBe(amount < bound);
    }),
  );
  expect(matches({ currency: 'EUR', channel: 'pos' }, card('x'))).toBe(false);
  expect(matches({}, card('x'))).toBe(true);
});
