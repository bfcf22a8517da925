import { mkdtempSync, chmodSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { migrate } from '../db/migrate';
import { startEmbeddedPostgres } from '../scripts/embedded-postgres';
import { insertMerchant } from '../db/merchants';
import { paymentWrite } from '../db/payments';
import { postingWrites } from '../db/ledger';
import { eventsWrite, eventsPendingSelect } from '../db/events';
import { asOneStatement } from '../db/pool';

const ticks = (pid: number) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' '); return (Number(f[11]) + Number(f[12])) * 10; };
async function main() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'prep-')); chmodSync(dir, 0o755);
  const db = await startEmbeddedPostgres(path.join(dir, 'pg'));
  await migrate(db.url);
  const c = new pg.Client(db.url); await c.connect();
  const { rows } = await c.query('SELECT pg_backend_pid() AS pid'); const pid = rows[0].pid;
  await insertMerchant(c as never, { id: 'mer_x', name: 'x', settlementCurrency: null, fxMarginBps: 0, apiKey: 'a', liveApiKey: 'b' });
  const N = 1500;
  for (const named of [false, true, false, true]) {
    const t0 = ticks(pid); const s0 = process.cpuUsage(); const w0 = Date.now();
    for (let i = 0; i < N; i++) {
      const id = `pay_${named}_${i}_${w0}`;
      const payment = { id, merchant_id: 'mer_x', status: 'captured', amount: 1000, currency: 'USD', amount_capturable: 0, amount_captured: 1000, amount_refunded: 0, capture_method: 'automatic', payment_method: { type: 'card' }, provider: 'sandbox', provider_reference: 'r', channel: 'online', next_action: null, failure: null, customer_id: null, description: null, metadata: {}, return_url: null, created_at: new Date().toISOString(), updated_at: new Date().toISOString(), version: 3, livemode: false } as never;
      const q = asOneStatement([paymentWrite('payment', payment), ...postingWrites('posting_0', { id: `cap_${id}`, merchantId: 'mer_x', paymentId: id, kind: 'capture', currency: 'USD', amount: 1000 }, [{ account: 'a', currency: 'USD', amount: 1000 }, { account: 'b', currency: 'USD', amount: -1000 }]),
        eventsWrite('ev', [{ id: `evt_${id}`, merchantId: 'mer_x', livemode: false, type: 'payment.captured' as never, objectId: id, data: { a: 1 } }], 'without_endpoint')], eventsPendingSelect('ev', 1));
      await c.query(named ? { ...q, name: 'cap' } : q);
      const r = { text: 'SELECT config, updated_at FROM routing_configs WHERE merchant_id = $1 AND livemode = $2', values: ['mer_x', false] };
      await c.query(named ? { ...r, name: 'rt' } : r);
    }
    console.log(named ? 'named  ' : 'unnamed', 'pg backend ms/iter', ((ticks(pid) - t0) / N).toFixed(3), 'node ms/iter', ((process.cpuUsage(s0).user + process.cpuUsage(s0).system) / 1000 / N).toFixed(3), 'wall', ((Date.now() - w0) / N).toFixed(3));
  }
  await c.end(); await db.stop();
}
main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
