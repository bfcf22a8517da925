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
  await expectBankAccountsConsistent(pool, merchantId);
}

/**
 * Bank transfer money, account by account, equals what the credits, payouts, customers and
 * payments say: the bank account holds the credits received less the payouts paid; unapplied
 * cash is the unmatched credits; funds held are what open transfers received; customer cash is
 * the customers' balances; pending payouts are the returns not yet confirmed.
 */
export async function expectBankAccountsConsistent(pool: Pool, merchantId: string): Promise<void> {
  const ledger = async (account: string, sign: 1 | -1) => {
    const { rows } = await pool.query<{ key: string; amount: string }>(
      `SELECT livemode || ':' || currency AS key, sum(amount)::bigint AS amount FROM ledger_entries WHERE merchant_id = $1 AND account = $2 GROUP BY 1 HAVING sum(amount) <> 0 ORDER BY 1`,
      [merchantId, account],
    );
    return Object.fromEntries(rows.map((r) => [r.key, sign * Number(r.amount)]));
  };
  const books = async (sql: string) => {
    const { rows } = await pool.query<{ key: string; amount: string }>(`SELECT key, sum(amount)::bigint AS amount FROM (${sql}) x GROUP BY key HAVING sum(amount) <> 0 ORDER BY key`, [merchantId]);
    return Object.fromEntries(rows.map((r) => [r.key, Number(r.amount)]));
  };
  expect(await ledger('bank_cash', 1)).toEqual(await books(
    `SELECT livemode || ':' || currency AS key, amount FROM bank_credits WHERE merchant_id = $1
     UNION ALL SELECT livemode || ':' || currency, -amount FROM bank_payouts WHERE merchant_id = $1 AND status = 'paid'`,
  ));
  expect(await ledger('unapplied_cash', -1)).toEqual(await books(
    `SELECT livemode || ':' || currency AS key, amount - amount_applied - amount_excess AS amount FROM bank_credits WHERE merchant_id = $1`,
  ));
  expect(await ledger('transfer_funds_held', -1)).toEqual(await books(
    `SELECT livemode || ':' || currency AS key, amount_received AS amount FROM payments WHERE merchant_id = $1 AND status = 'requires_action' AND amount_received > 0`,
  ));
  expect(await ledger('customer_cash_balance', -1)).toEqual(await books(
    `SELECT c.livemode || ':' || b.key AS key, b.value::bigint AS amount FROM customers c, jsonb_each_text(c.cash_balance) b WHERE c.merchant_id = $1`,
  ));
  expect(await ledger('payouts_pending', -1)).toEqual(await books(
    `SELECT livemode || ':' || currency AS key, amount FROM bank_payouts WHERE merchant_id = $1 AND kind = 'return' AND status = 'pending'`,
  ));
}

/** The same invariants for every merchant in the database: run after each suite's scenarios. */
export async function expectAllLedgersConsistent(pool: Pool): Promise<void> {
  const merchants = await pool.query<{ id: string }>('SELECT id FROM merchants');
  for (const { id } of merchants.rows) await expectLedgerConsistent(pool, id);
}
