import type { Pool } from 'pg';

/**
 * The ledger's invariants for one merchant: every posting balances per currency, and the
 * balance equals what its payments and refunds add up to in the read model.
 */
export async function expectLedgerConsistent(pool: Pool, merchantId: string): Promise<void> {
  const unbalanced = await pool.query(
    `SELECT posting_id FROM ledger_entries WHERE merchant_id = $1 GROUP BY posting_id, currency HAVING sum(amount) <> 0`,
    [merchantId],
  );
  expect(unbalanced.rows).toEqual([]);
  const ledger = await pool.query(
    `SELECT currency, -sum(amount)::bigint AS amount FROM ledger_entries WHERE merchant_id = $1 AND account = 'merchant_payable' GROUP BY currency ORDER BY currency`,
    [merchantId],
  );
  const readModel = await pool.query(
    `SELECT currency, sum(amount_captured - amount_refunded)::bigint AS amount FROM payments
     WHERE merchant_id = $1 AND amount_captured > 0 GROUP BY currency ORDER BY currency`,
    [merchantId],
  );
  expect(ledger.rows).toEqual(readModel.rows);
}

/** The same invariants for every merchant in the database: run after each suite's scenarios. */
export async function expectAllLedgersConsistent(pool: Pool): Promise<void> {
  const merchants = await pool.query<{ id: string }>('SELECT id FROM merchants');
  for (const { id } of merchants.rows) await expectLedgerConsistent(pool, id);
}
