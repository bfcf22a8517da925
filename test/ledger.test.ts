import { Pool } from 'pg';
import { newId } from '../domain/ids';
import { merchantBalances, recordPosting } from '../db/ledger';
import { inTransaction } from '../db/pool';
import { readInfra } from './support/infra';

let pool: Pool;
const created: string[] = [];
beforeAll(() => {
  pool = new Pool({ connectionString: readInfra().databaseUrl });
});
afterAll(async () => {
  // These postings have no payments behind them: remove them so other suites' checks of the
  // whole database (ledger equals read model) stay meaningful.
  await pool.query('DELETE FROM ledger_entries WHERE merchant_id = ANY($1)', [created]);
  await pool.query('DELETE FROM ledger_postings WHERE merchant_id = ANY($1)', [created]);
  await pool.end();
});

async function merchant(): Promise<string> {
  const id = newId('mer');
  created.push(id);
  await pool.query('INSERT INTO merchants (id, name, api_key_hash) VALUES ($1, $2, $3)', [id, 'Ledger test', newId('sk')]);
  return id;
}

test('the database refuses a posting that does not balance', async () => {
  const m = await merchant();
  await expect(
    inTransaction(pool, async (client) => {
      await client.query(`INSERT INTO ledger_postings (id, merchant_id, payment_id, kind) VALUES ('bad-1', $1, 'pay_x', 'capture')`, [m]);
      await client.query(`INSERT INTO ledger_entries (posting_id, merchant_id, account, currency, amount) VALUES ('bad-1', $1, 'merchant_payable', 'USD', -100)`, [m]);
    }),
  ).rejects.toThrow(/does not balance/);
  expect(await merchantBalances(pool, { merchantId: m, livemode: false })).toEqual([]);
});

test('a posting recorded twice counts once; capture and refund net out per currency', async () => {
  const m = await merchant();
  const capture = { id: `${m}:pay_1:capture`, merchantId: m, paymentId: 'pay_1', kind: 'capture' as const, currency: 'EUR', amount: 1000 };
  await inTransaction(pool, (c) => recordPosting(c, capture));
  await inTransaction(pool, (c) => recordPosting(c, capture));
  await inTransaction(pool, (c) => recordPosting(c, { id: `${m}:pay_2:capture`, merchantId: m, paymentId: 'pay_2', kind: 'capture', currency: 'JPY', amount: 500 }));
  await inTransaction(pool, (c) => recordPosting(c, { id: `${m}:pay_1:refund:re_1`, merchantId: m, paymentId: 'pay_1', refundId: 're_1', kind: 'refund', currency: 'EUR', amount: 300 }));
  expect(await merchantBalances(pool, { merchantId: m, livemode: false })).toEqual([
    { currency: 'EUR', amount: 700 },
    { currency: 'JPY', amount: 500 },
  ]);
});
