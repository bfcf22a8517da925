import type { ApiAnswer } from './api';
import { ApiError, BodyReader, cnyOnly, notifyUrlOf, ok, paramError } from './api';
import { newRefundId } from './formats';
import type { Context, Refund } from './state';
import { refundJson, refundable } from './state';

/**
 * The domestic refund APIs. `out_refund_no` is the merchant's idempotency key: sent again (after a
 * timeout or a SYSTEM_ERROR) it names the same refund, answered with its current status.
 */

export type RefundOutcome = { answer: ApiAnswer; refund?: Refund; created?: boolean };

/** 1 to 64 of digits, letters and `_-|*@`. */
const OUT_REFUND_NO = /^[0-9A-Za-z_\-|*@]{1,64}$/;
/** WeChat's ceiling on partial refunds of one payment. */
const MAX_REFUNDS_PER_ORDER = 50;

/** `initialStatus` is asked only when a new refund is made: PROCESSING until `settleRefund`, or SUCCESS at once. */
export function createRefund(ctx: Context, body: Record<string, unknown>, initialStatus: () => 'SUCCESS' | 'PROCESSING'): RefundOutcome {
  const r = new BodyReader(body);
  const transactionId = r.string('/transaction_id', { maxBytes: 32 });
  const outTradeNo = r.string('/out_trade_no', { maxBytes: 32 });
  if (transactionId === undefined && outTradeNo === undefined) throw paramError('/out_trade_no', 'transaction_id or out_trade_no is required');
  const outRefundNo = r.string('/out_refund_no', { required: true, pattern: OUT_REFUND_NO });
  const reason = r.string('/reason', { maxBytes: 80 });
  const notifyUrl = notifyUrlOf(r, '/notify_url', false);
  const fundsAccount = r.string('/funds_account');
  if (fundsAccount !== undefined && fundsAccount !== 'AVAILABLE') throw paramError('/funds_account', 'must be AVAILABLE', fundsAccount);
  r.object('/amount', true);
  const refundFen = r.fen('/amount/refund');
  const totalFen = r.fen('/amount/total');
  // Required here, unlike when ordering.
  cnyOnly(r, '/amount/currency', true);

  const candidate = outTradeNo !== undefined ? ctx.state.order(outTradeNo) : ctx.state.orderByTransactionId(transactionId as string);
  const order = candidate && (transactionId === undefined || candidate.transactionId === transactionId) ? candidate : undefined;

  // Before the order's state: the retry of a refund that used up the order is still that refund.
  const prior = ctx.state.refund(outRefundNo);
  if (prior) {
    if (prior.order !== order || prior.refundFen !== refundFen || prior.order.totalFen !== totalFen) {
      throw new ApiError(400, 'INVALID_REQUEST', '订单金额或退款金额与之前请求不一致，请核实后再试');
    }
    return { answer: ok(refundJson(prior)), refund: prior, created: false };
  }
  // WeChat's documented answer for an unknown order and for an unpaid one alike.
  if (!order || order.status !== 'SUCCESS') throw new ApiError(404, 'RESOURCE_NOT_EXISTS', '订单不存在');
  if (totalFen !== order.totalFen) throw paramError('/amount/total', `is not the order's total (${order.totalFen})`, totalFen);
  if (order.refunds.length >= MAX_REFUNDS_PER_ORDER) throw new ApiError(400, 'INVALID_REQUEST', `一笔订单最多退款${MAX_REFUNDS_PER_ORDER}次`);
  const left = refundable(order);
  if (refundFen > left) throw new ApiError(403, 'NOT_ENOUGH', `申请退款金额超过订单可退金额 (可退 ${left})`);

  const now = new Date();
  const status = initialStatus();
  const refund: Refund = {
    refundId: newRefundId(now), outRefundNo, order, refundFen, reason, notifyUrl, status, createdAt: now,
    ...(status === 'SUCCESS' ? { successAt: now } : {}),
  };
  ctx.state.addRefund(refund);
  ctx.log('refund created', { outTradeNo: order.outTradeNo, outRefundNo, refund: refundFen, status, left: refundable(order) });
  return { answer: ok(refundJson(refund)), refund, created: true };
}

export function queryRefund(ctx: Context, outRefundNo: string): RefundOutcome {
  const refund = ctx.state.refund(outRefundNo);
  if (!refund) throw new ApiError(404, 'RESOURCE_NOT_EXISTS', '退款单不存在');
  return { answer: ok(refundJson(refund)), refund };
}
