import type { ProviderName } from '../domain/payment';

/**
 * One line of a provider's settlement report, normalized. Amounts are integers in minor units of
 * `currency`, signed as money moves for the merchant: a charge's `gross` is positive, a refund's
 * negative; `fee` is what the provider kept (negative when it gave a fee back); `net = gross - fee`.
 */
export type SettlementLine = {
  provider: ProviderName;
  /** The provider's id of the transaction (Stripe `ch_`/`re_`/`pi_`, Alipay 支付宝交易号, WeChat transaction_id, sandbox `sbx_`). */
  provider_reference: string;
  /** Ours, when the report carries it (Alipay 商户订单号 / WeChat out_trade_no = our payment id, Stripe metadata). */
  payment_id: string | null;
  /** Ours, for a refund line, when the report carries it (Alipay 退款批次号/请求号, WeChat out_refund_no, Stripe metadata). */
  refund_id: string | null;
  type: 'charge' | 'refund' | 'fee' | 'adjustment';
  gross: number;
  fee: number;
  net: number;
  currency: string;
  /** RFC 3339, when the provider settled (or booked) the line. */
  settled_at: string;
};

/** What a provider implements to be reconciled: its settlement report of one day, in its own time zone. */
export interface SettlementReports {
  /** The provider's day boundary (Alipay and WeChat Pay bill in China Standard Time; Stripe in UTC). */
  readonly reportTimeZone: string;
  /** Every line the provider settled on `date` (YYYY-MM-DD in `reportTimeZone`). Throws a ProviderFault when the report cannot be had (yet). */
  settlementReport(req: { date: string; livemode: boolean }): Promise<SettlementLine[]>;
}
