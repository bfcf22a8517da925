import { escapeHtml } from '../http';

/** The few HTML pages a browser sees at the simulated Alipay: the cashier and its error/result pages. */

export type CashierView = {
  subject: string;
  amount: string;
  currency: string;
  outTradeNo: string;
  tradeNo: string;
  product: 'precreate' | 'page' | 'wap';
  timeExpire?: string;
  /** Where the Pay button POSTs. */
  payAction: string;
};


const STYLE = `
  body { font-family: system-ui, sans-serif; background: #f5f5f5; margin: 0; padding: 2rem 1rem; color: #333; }
  main { max-width: 26rem; margin: 0 auto; background: #fff; border-radius: 8px; padding: 1.5rem; box-shadow: 0 1px 4px rgba(0,0,0,.1); }
  .brand { color: #1677ff; font-weight: 600; margin: 0 0 1rem; }
  .amount { font-size: 2rem; font-weight: 600; margin: .5rem 0; }
  dl { display: grid; grid-template-columns: auto 1fr; gap: .25rem .75rem; font-size: .85rem; color: #666; }
  dd { margin: 0; word-break: break-all; }
  button { width: 100%; padding: .75rem; font-size: 1rem; border: 0; border-radius: 6px; background: #1677ff; color: #fff; cursor: pointer; }
  label { display: block; font-size: .85rem; margin: 1rem 0 .5rem; }
  input { width: 100%; box-sizing: border-box; padding: .5rem; margin-bottom: 1rem; }
  .note { font-size: .75rem; color: #999; margin-top: 1rem; }
`;

function layout(title: string, content: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main><p class="brand">支付宝 Alipay · local simulator</p>${content}</main></body>
</html>`;
}

const PRODUCT_LABEL = { precreate: 'QR code (当面付)', page: 'Desktop cashier (电脑网站支付)', wap: 'Mobile cashier (手机网站支付)' } as const;

export function cashierPage(v: CashierView): string {
  return layout(`Pay ${v.amount} ${v.currency}`, `
  <h1>${escapeHtml(v.subject)}</h1>
  <p class="amount">${escapeHtml(v.amount)} ${escapeHtml(v.currency)}</p>
  <dl>
    <dt>Order</dt><dd>${escapeHtml(v.outTradeNo)}</dd>
    <dt>Trade</dt><dd>${escapeHtml(v.tradeNo)}</dd>
    <dt>Product</dt><dd>${PRODUCT_LABEL[v.product]}</dd>
    ${v.timeExpire ? `<dt>Pay before</dt><dd>${escapeHtml(v.timeExpire)} (Beijing)</dd>` : ''}
  </dl>
  <form method="post" action="${escapeHtml(v.payAction)}">
    <label for="buyer">Buyer account</label>
    <input id="buyer" name="buyer_logon_id" value="138****8888">
    <button type="submit">Pay 付款</button>
  </form>
  <p class="note">Nothing is charged: this page belongs to a local Alipay gateway simulator.</p>`);
}

export function messagePage(title: string, lines: string[]): string {
  return layout(title, `<h1>${escapeHtml(title)}</h1>${lines.map((l) => `<p>${escapeHtml(l)}</p>`).join('')}`);
}
