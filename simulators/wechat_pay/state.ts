import { rfc3339 } from './formats';

/**
 * What the simulated WeChat Pay knows: orders by out_trade_no, refunds by out_refund_no, and the
 * exact JSON its API and notifies write for each.
 */

export type Merchant = { mchid: string; appid: string };

export type TradeType = 'NATIVE' | 'JSAPI' | 'MWEB';
export type TradeState = 'SUCCESS' | 'REFUND' | 'NOTPAY' | 'CLOSED' | 'USERPAYING' | 'PAYERROR';
export type RefundStatus = 'SUCCESS' | 'CLOSED' | 'PROCESSING' | 'ABNORMAL';

export type Order = {
  outTradeNo: string;
  tradeType: TradeType;
  appid: string;
  description: string;
  attach?: string;
  notifyUrl: string;
  totalFen: number;
  /** The create request's body, canonical: the same out_trade_no with other terms is refused. */
  terms: string;
  /** Names the order's page: `/qr/<token>`. */
  token: string;
  codeUrl?: string;
  prepayId?: string;
  h5Url?: string;
  timeExpire?: string;
  expiresAtMs?: number;
  /** The payer: given up front for JSAPI, known once paid otherwise. */
  openid?: string;
  /** Stored state; REFUND is derived from the refunds (see tradeState). */
  status: 'NOTPAY' | 'SUCCESS' | 'CLOSED';
  transactionId?: string;
  bankType?: string;
  createdAt: Date;
  paidAt?: Date;
  closedAt?: Date;
  refunds: Refund[];
};

export type Refund = {
  refundId: string;
  outRefundNo: string;
  order: Order;
  refundFen: number;
  reason?: string;
  notifyUrl?: string;
  status: RefundStatus;
  createdAt: Date;
  successAt?: Date;
};

const TRADE_STATE_DESC: Record<TradeState, string> = {
  SUCCESS: '支付成功',
  REFUND: '转入退款',
  NOTPAY: '订单未支付',
  CLOSED: '已关闭',
  USERPAYING: '用户支付中',
  PAYERROR: '支付失败',
};

/** Where a refund goes back to: the payer's balance, for every payment the simulator takes. */
const USER_RECEIVED_ACCOUNT = '支付用户零钱';

export class SimState {
  private readonly orders = new Map<string, Order>();
  private readonly byToken = new Map<string, Order>();
  private readonly byTransactionId = new Map<string, Order>();
  private readonly refunds = new Map<string, Refund>();

  constructor(private readonly log: (msg: string, fields?: Record<string, unknown>) => void) {}

  addOrder(order: Order): void {
    this.orders.set(order.outTradeNo, order);
    this.byToken.set(order.token, order);
  }

  /** The order as of now: expiry is evaluated on every access, so no timer has to fire for time_expire to hold. */
  order(outTradeNo: string): Order | undefined {
    const order = this.orders.get(outTradeNo);
    return order && this.refresh(order);
  }

  orderByToken(token: string): Order | undefined {
    const order = this.byToken.get(token);
    return order && this.refresh(order);
  }

  orderByTransactionId(transactionId: string): Order | undefined {
    return this.byTransactionId.get(transactionId);
  }

  allOrders(): Order[] {
    return [...this.orders.values()].map((o) => this.refresh(o));
  }

  markPaid(order: Order, openid: string, at: Date, transactionId: string): void {
    order.status = 'SUCCESS';
    order.paidAt = at;
    order.openid = openid;
    order.transactionId = transactionId;
    order.bankType = 'OTHERS';
    this.byTransactionId.set(transactionId, order);
  }

  close(order: Order, at: Date): void {
    order.status = 'CLOSED';
    order.closedAt = at;
  }

  addRefund(refund: Refund): void {
    this.refunds.set(refund.outRefundNo, refund);
    refund.order.refunds.push(refund);
  }

  refund(outRefundNo: string): Refund | undefined {
    return this.refunds.get(outRefundNo);
  }

  private refresh(order: Order): Order {
    if (order.status === 'NOTPAY' && order.expiresAtMs !== undefined && Date.now() >= order.expiresAtMs) {
      this.close(order, new Date(order.expiresAtMs));
      this.log('order expired', { outTradeNo: order.outTradeNo, timeExpire: order.timeExpire });
    }
    return order;
  }
}

/** A paid order turns REFUND as soon as a refund is under way or done; a closed refund gives the money back to the order. */
export function tradeState(order: Order): TradeState {
  if (order.status === 'SUCCESS' && order.refunds.some((r) => r.status !== 'CLOSED')) return 'REFUND';
  return order.status;
}

/** Fen still refundable: the total less every refund that is not CLOSED (PROCESSING and ABNORMAL hold their amount). */
export function refundable(order: Order): number {
  return order.totalFen - order.refunds.filter((r) => r.status !== 'CLOSED').reduce((sum, r) => sum + r.refundFen, 0);
}

/** The transaction as the query API answers it and as a TRANSACTION.SUCCESS notify carries it. */
export function transactionJson(order: Order, m: Merchant): Record<string, unknown> {
  const state = tradeState(order);
  const paid = order.paidAt !== undefined;
  return {
    appid: order.appid,
    mchid: m.mchid,
    out_trade_no: order.outTradeNo,
    ...(order.transactionId ? { transaction_id: order.transactionId } : {}),
    trade_type: order.tradeType,
    trade_state: state,
    trade_state_desc: TRADE_STATE_DESC[state],
    ...(order.bankType ? { bank_type: order.bankType } : {}),
    ...(order.attach !== undefined ? { attach: order.attach } : {}),
    ...(order.paidAt ? { success_time: rfc3339(order.paidAt) } : {}),
    // WeChat names the payer only once it has paid, JSAPI included.
    ...(paid && order.openid ? { payer: { openid: order.openid } } : {}),
    amount: paid
      ? { total: order.totalFen, payer_total: order.totalFen, currency: 'CNY', payer_currency: 'CNY' }
      : { total: order.totalFen, currency: 'CNY', payer_currency: 'CNY' },
  };
}

/** The refund as the refund APIs answer it. Nothing is discounted or settled apart: every amount is the payer's. */
export function refundJson(refund: Refund): Record<string, unknown> {
  const { order } = refund;
  return {
    refund_id: refund.refundId,
    out_refund_no: refund.outRefundNo,
    transaction_id: order.transactionId,
    out_trade_no: order.outTradeNo,
    channel: 'ORIGINAL',
    user_received_account: USER_RECEIVED_ACCOUNT,
    ...(refund.successAt ? { success_time: rfc3339(refund.successAt) } : {}),
    create_time: rfc3339(refund.createdAt),
    status: refund.status,
    funds_account: 'AVAILABLE',
    amount: {
      total: order.totalFen,
      refund: refund.refundFen,
      from: [],
      payer_total: order.totalFen,
      payer_refund: refund.refundFen,
      settlement_refund: refund.refundFen,
      settlement_total: order.totalFen,
      discount_refund: 0,
      currency: 'CNY',
      refund_fee: 0,
    },
    promotion_detail: [],
  };
}

/** The plaintext of a REFUND.* notify: a smaller shape than the API's, with `refund_status` for `status`. */
export function refundNotifyJson(refund: Refund, m: Merchant): Record<string, unknown> {
  const { order } = refund;
  return {
    mchid: m.mchid,
    out_trade_no: order.outTradeNo,
    transaction_id: order.transactionId,
    out_refund_no: refund.outRefundNo,
    refund_id: refund.refundId,
    refund_status: refund.status,
    ...(refund.successAt ? { success_time: rfc3339(refund.successAt) } : {}),
    user_received_account: USER_RECEIVED_ACCOUNT,
    amount: { total: order.totalFen, refund: refund.refundFen, payer_total: order.totalFen, payer_refund: refund.refundFen },
  };
}

export type OrderView = {
  outTradeNo: string;
  tradeType: TradeType;
  tradeState: TradeState;
  transactionId?: string;
  description: string;
  /** Fen. */
  total: number;
  notifyUrl: string;
  codeUrl?: string;
  prepayId?: string;
  h5Url?: string;
  /** The order's page (what code_url and h5_url point to). */
  pageUrl: string;
  timeExpire?: string;
  openid?: string;
  /** ISO 8601. */
  paidAt?: string;
  closedAt?: string;
  /** Fen refunded or being refunded (CLOSED refunds excluded). */
  refunded: number;
  refunds: string[];
  /** Exactly what `GET /v3/pay/transactions/out-trade-no/{out_trade_no}` answers now. */
  transaction: Record<string, unknown>;
};

export type RefundView = {
  outRefundNo: string;
  refundId: string;
  outTradeNo: string;
  status: RefundStatus;
  /** Fen. */
  refund: number;
  notifyUrl?: string;
  createdAt: string;
  successAt?: string;
  /** Exactly what `GET /v3/refund/domestic/refunds/{out_refund_no}` answers now. */
  wire: Record<string, unknown>;
};

export function orderView(order: Order, m: Merchant, pageUrl: string): OrderView {
  return {
    outTradeNo: order.outTradeNo,
    tradeType: order.tradeType,
    tradeState: tradeState(order),
    transactionId: order.transactionId,
    description: order.description,
    total: order.totalFen,
    notifyUrl: order.notifyUrl,
    codeUrl: order.codeUrl,
    prepayId: order.prepayId,
    h5Url: order.h5Url,
    pageUrl,
    timeExpire: order.timeExpire,
    openid: order.openid,
    paidAt: order.paidAt?.toISOString(),
    closedAt: order.closedAt?.toISOString(),
    refunded: order.totalFen - refundable(order),
    refunds: order.refunds.map((r) => r.outRefundNo),
    transaction: transactionJson(order, m),
  };
}

export function refundView(refund: Refund): RefundView {
  return {
    outRefundNo: refund.outRefundNo,
    refundId: refund.refundId,
    outTradeNo: refund.order.outTradeNo,
    status: refund.status,
    refund: refund.refundFen,
    notifyUrl: refund.notifyUrl,
    createdAt: refund.createdAt.toISOString(),
    successAt: refund.successAt?.toISOString(),
    wire: refundJson(refund),
  };
}

/** What the API handlers work with. */
export type Context = {
  state: SimState;
  merchant: Merchant;
  /** The URL of an order's page, by its token. */
  pageUrl: (token: string) => string;
  log: (msg: string, fields?: Record<string, unknown>) => void;
};
