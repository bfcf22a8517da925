import type { ServerResponse } from 'node:http';
import { yuan } from './formats';
import { escapeHtml, sendHtml } from '../http';
import type { Order } from './state';
import { tradeState } from './state';

/**
 * The pages a browser sees at the simulated WeChat Pay: what scanning a Native code_url (or
 * opening an h5_url) would show in WeChat, and the result pages.
 */

export type PayPageView = {
  description: string;
  /** Yuan, `12.34`. */
  amount: string;
  outTradeNo: string;
  tradeType: 'NATIVE' | 'JSAPI' | 'MWEB';
  /** RFC 3339, as sent. */
  timeExpire?: string;
  /** Where the Pay button POSTs. */
  payAction: string;
};


const STYLE = `
  body { font-family: system-ui, sans-serif; background: #ededed; margin: 0; padding: 2rem 1rem; color: #191919; }
  main { max-width: 26rem; margin: 0 auto; background: #fff; border-radius: 8px; padding: 1.5rem; box-shadow: 0 1px 4px rgba(0,0,0,.1); }
  .brand { color: #07c160; font-weight: 600; margin: 0 0 1rem; }
  .amount { font-size: 2rem; font-weight: 600; margin: .5rem 0; }
  dl { display: grid; grid-template-columns: auto 1fr; gap: .25rem .75rem; font-size: .85rem; color: #666; }
  dd { margin: 0; word-break: break-all; }
  button { width: 100%; margin-top: 1rem; padding: .75rem; font-size: 1rem; border: 0; border-radius: 6px; background: #07c160; color: #fff; cursor: pointer; }
  .note { font-size: .75rem; color: #999; margin-top: 1rem; }
`;

function layout(title: string, content: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><main><p class="brand">微信支付 WeChat Pay · local simulator</p>${content}</main></body>
</html>`;
}

const TRADE_TYPE_LABEL = { NATIVE: 'QR code (Native支付)', JSAPI: 'In WeChat (JSAPI支付)', MWEB: 'Mobile browser (H5支付)' } as const;

export function payPage(v: PayPageView): string {
  return layout(`Pay ¥${v.amount}`, `
  <h1>${escapeHtml(v.description)}</h1>
  <p class="amount">¥${escapeHtml(v.amount)}</p>
  <dl>
    <dt>Order</dt><dd>${escapeHtml(v.outTradeNo)}</dd>
    <dt>Product</dt><dd>${TRADE_TYPE_LABEL[v.tradeType]}</dd>
    ${v.timeExpire ? `<dt>Pay before</dt><dd>${escapeHtml(v.timeExpire)}</dd>` : ''}
  </dl>
  <form method="post" action="${escapeHtml(v.payAction)}">
    <button type="submit">Pay 支付</button>
  </form>
  <p class="note">Nothing is charged: this page belongs to a local WeChat Pay simulator.</p>`);
}

export function messagePage(title: string, lines: string[]): string {
  return layout(title, `<h1>${escapeHtml(title)}</h1>${lines.map((l) => `<p>${escapeHtml(l)}</p>`).join('')}`);
}

/**
 * `GET /qr/<token>`: the order's page; `POST` (its Pay button) pays. An H5 payment then returns to
 * the merchant's `redirect_url` if it appended one, as WeChat's H5 cashier does; the notify still decides.
 */
export function servePage(
  deps: { orderByToken: (token: string) => Order | undefined; pay: (order: Order) => void },
  method: 'GET' | 'POST', token: string, url: URL, res: ServerResponse,
): void {
  const order = deps.orderByToken(token);
  if (!order) return sendHtml(res, 404, messagePage('微信支付 · 二维码无效 Unknown code', ['No order has this code.']));
  if (order.status !== 'NOTPAY') return sendHtml(res, 409, messagePage('微信支付 · 无法支付 Cannot pay', [`Order ${order.outTradeNo} is ${tradeState(order)}.`]));
  if (method === 'GET') {
    return sendHtml(res, 200, payPage({
      description: order.description,
      amount: yuan(order.totalFen),
      outTradeNo: order.outTradeNo,
      tradeType: order.tradeType,
      timeExpire: order.timeExpire,
      // The same URL, query included: an H5 page keeps the merchant's redirect_url.
      payAction: `/qr/${encodeURIComponent(token)}${url.search}`,
    }));
  }
  deps.pay(order);
  const back = order.tradeType === 'MWEB' ? httpUrl(url.searchParams.get('redirect_url')) : undefined;
  if (back) {
    res.writeHead(303, { location: back, 'content-type': 'text/plain;charset=utf-8' }).end(`See ${back}`);
    return;
  }
  sendHtml(res, 200, messagePage('微信支付 · 支付成功 Paid', [`¥${yuan(order.totalFen)} paid for ${order.description}.`, `Order ${order.outTradeNo}`]));
}

function httpUrl(value: string | null): string | undefined {
  if (!value) return undefined;
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.toString() : undefined;
  } catch {
    return undefined;
  }
}
