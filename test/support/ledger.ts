import type { Pool } from 'pg';
import type { PaymentFx } from '../../domain/payment';
import { settlementShare } from '../../fx/convert';

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
  const readModel = await pool.query<{ currency: string; amount: string }>(
    `SELECT currency, sum(amount_captured - amount_refunded)::bigint AS amount FROM payments
     WHERE merchant_id = $1 AND amount_captured > 0 AND fx IS NULL GROUP BY currency ORDER BY currency`,
    [merchantId],
  );
  // Cross-border payments owe the merchant their shares of the locked settlement amount, in the
  // settlement currency: the capture's share of the whole, less the refunds' share of the capture.
  const owed = new Map(readModel.rows.map((r) => [r.currency, Number(r.amount)]));
  const fx = await pool.query<{ amount: string; amount_captured: string; amount_refunded: string; fx: PaymentFx }>(
    'SELECT amount, amount_captured, amount_refunded, fx FROM payments WHERE merchant_id = $1 AND amount_captured > 0 AND fx IS NOT NULL',
    [merchantId],
  );
  for (const p of fx.rows) {
    const captured = Number(p.amount_captured);
    const settled = settlementShare({ amountMinor: captured, totalMinor: Number(p.amount), settledTotal: p.fx.settlement_amount, alreadyMoved: 0, alreadyMovedSettled: 0 });
    const refunded = settlementShare({ amountMinor: Number(p.amount_refunded), totalMinor: captured, settledTotal: settled, alreadyMoved: 0, alreadyMovedSettled: 0 });
    owed.set(p.fx.settlement_currency, (owed.get(p.fx.settlement_currency) ?? 0) + settled - refunded);
  }
  const expected = [...owed.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([currency, amount]) => ({ currency, amount }));
  expect(ledger.rows).toEqual(expected);
}

/** The same invariants for every merchant in the database: run after each suite's scenarios. */
export async function expectAllLedgersConsistent(pool: Pool): Promise<void> {
  const merchants = await pool.query<{ id: string }>('SELECT id FROM merchants');
  for (const { id } of merchants.rows) await expectLedgerConsistent(pool, id);
}
