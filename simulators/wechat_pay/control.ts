import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BillDiscrepancy } from './bill';
import { parseBillDiscrepancy } from './bill';
import type { WechatPayFault } from './faults';
import { parseFault } from './faults';
import { isRecord, readJson, sendJson } from '../http';
import type { NotificationRecord } from './notify';
import type { RequestRecord } from './routes';
import type { OrderView, RefundView } from './state';

/**
 * `/sim/…`: the simulator's control API over HTTP, for a demo or a test in another process. It
 * only calls the simulator's public methods.
 */

export type Controllable = {
  readonly requests: RequestRecord[];
  readonly notifications: NotificationRecord[];
  pay(outTradeNo: string, payer?: { openid?: string }): OrderView;
  order(outTradeNo: string): OrderView | undefined;
  orders(): OrderView[];
  refund(outRefundNo: string): RefundView | undefined;
  settleRefund(outRefundNo: string, status: 'SUCCESS' | 'ABNORMAL' | 'CLOSED'): RefundView;
  injectFault(f: WechatPayFault): void;
  clearFaults(): void;
  pendingFaults(): Array<{ fault: WechatPayFault; remaining: number }>;
  injectBillDiscrepancy(d: BillDiscrepancy): void;
  clearBillDiscrepancies(): void;
};

/** Thrown by the control methods; `status` is what the HTTP control API answers. */
export class WechatPaySimulatorError extends Error {
  constructor(message: string, readonly status: 404 | 409) {
    super(message);
    this.name = 'WechatPaySimulatorError';
  }
}

export async function serveControl(sim: Controllable, method: string, parts: string[], req: IncomingMessage, res: ServerResponse): Promise<void> {
  const [resource, id, action] = parts;
  try {
    if (resource === 'orders') {
      if (id === undefined && method === 'GET') return sendJson(res, 200, sim.orders());
      if (id !== undefined && action === undefined && method === 'GET') {
        const view = sim.order(id);
        return view ? sendJson(res, 200, view) : sendJson(res, 404, { code: 'not_found', message: `no order with out_trade_no ${id}` });
      }
      if (id !== undefined && action === 'pay' && method === 'POST') {
        const body = await readJson(req);
        const openid = isRecord(body) && typeof body.openid === 'string' ? body.openid : undefined;
        return sendJson(res, 200, sim.pay(id, { openid }));
      }
    }
    if (resource === 'refunds' && id !== undefined) {
      if (action === undefined && method === 'GET') {
        const view = sim.refund(id);
        return view ? sendJson(res, 200, view) : sendJson(res, 404, { code: 'not_found', message: `no refund with out_refund_no ${id}` });
      }
      if (action === 'settle' && method === 'POST') {
        const body = await readJson(req);
        const status = isRecord(body) ? body.status : undefined;
        if (status !== 'SUCCESS' && status !== 'ABNORMAL' && status !== 'CLOSED') throw new TypeError('status must be SUCCESS, ABNORMAL or CLOSED');
        return sendJson(res, 200, sim.settleRefund(id, status));
      }
    }
    if (resource === 'faults' && id === undefined) {
      if (method === 'GET') return sendJson(res, 200, sim.pendingFaults());
      if (method === 'POST') {
        const fault = parseFault(await readJson(req));
        sim.injectFault(fault);
        return sendJson(res, 201, fault);
      }
      if (method === 'DELETE') {
        sim.clearFaults();
        res.writeHead(204).end();
        return;
      }
    }
    if (resource === 'bill-discrepancies' && id === undefined) {
      if (method === 'POST') {
        const discrepancy = parseBillDiscrepancy(await readJson(req));
        sim.injectBillDiscrepancy(discrepancy);
        return sendJson(res, 201, discrepancy);
      }
      if (method === 'DELETE') {
        sim.clearBillDiscrepancies();
        res.writeHead(204).end();
        return;
      }
    }
    if (resource === 'requests' && id === undefined && method === 'GET') return sendJson(res, 200, sim.requests);
    if (resource === 'notifications' && id === undefined && method === 'GET') return sendJson(res, 200, sim.notifications);
    return sendJson(res, 404, { code: 'not_found', message: `no control route for ${method} /sim/${parts.join('/')}` });
  } catch (err) {
    if (err instanceof WechatPaySimulatorError) return sendJson(res, err.status, { code: err.status === 404 ? 'not_found' : 'conflict', message: err.message });
    if (err instanceof TypeError || err instanceof SyntaxError) return sendJson(res, 400, { code: 'invalid_request', message: err.message });
    throw err;
  }
}
