import type { Pool } from 'pg';
import { newId } from '../../domain/ids';
import { inTransaction, iso, prepared } from '../../db/pool';

/** The simulated processor's side of a payment, as its own database holds it. */
export type SandboxPayment = {
  reference: string;
  payment_id: string;
  merchant_id: string;
  method_type: string;
  token: string;
  status: 'requires_action' | 'authorized' | 'captured' | 'canceled' | 'failed';
  amount: number;
  currency: string;
  amount_captured: number;
  amount_refunded: number;
  customer_completes_at: Date | null;
  action_expires_at: Date | null;
  failure_code: string | null;
};

export type SandboxCharge = {
  id: string;
  object: 'sandbox_charge';
  payment_id: string;
  operation: 'authorize' | 'capture' | 'void' | 'refund';
  amount: number;
  currency: string;
  idempotency_key: string;
  created_at: string;
};

export class SandboxStore {
  constructor(private readonly pool: Pool) {}

  /** Counts calls per idempotency key (to script "503 twice, then succeed"); returns this call's number. */
  async countAttempt(idempotencyKey: string): Promise<number> {
    const { rows } = await this.pool.query<{ attempts: number }>(
      `INSERT INTO sandbox_attempts (idempotency_key, attempts) VALUES ($1, 1)
       ON CONFLICT (idempotency_key) DO UPDATE SET attempts = sandbox_attempts.attempts + 1 RETURNING attempts`,
      [idempotencyKey],
    );
    return rows[0]!.attempts;
  }

  async findByPayment(paymentId: string): Promise<SandboxPayment | undefined> {
    const { rows } = await this.pool.query<SandboxPayment>('SELECT * FROM sandbox_payments WHERE payment_id = $1', [paymentId]);
    return rows[0];
  }

  async chargeExists(idempotencyKey: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('SELECT 1 FROM sandbox_charges WHERE idempotency_key = $1', [idempotencyKey]);
    return rowCount === 1;
  }

  /**
   * Creates the processor's record once per payment and returns it, or undefined when the payment
   * already has one (a repeated call: the caller reads the first one). The record and the charges
   * it made (authorize, and capture when it was captured at once) are one statement: a crash in
   * between must not leave a hold the books do not show (a retry would find the record and charge
   * nothing).
   */
  async open(p: Omit<SandboxPayment, 'amount_refunded'>, keys: { authorize: string; capture?: string }): Promise<SandboxPayment | undefined> {
    const { rows } = await this.pool.query<SandboxPayment>(prepared(
      `WITH opened AS (
         INSERT INTO sandbox_payments (reference, payment_id, merchant_id, method_type, token, status, amount, currency,
           amount_captured, customer_completes_at, action_expires_at, failure_code)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) ON CONFLICT (payment_id) DO NOTHING RETURNING *
       ), charged AS (
         INSERT INTO sandbox_charges (id, reference, payment_id, operation, amount, currency, idempotency_key)
         SELECT c.id, o.reference, o.payment_id, c.operation, c.amount, o.currency, c.idempotency_key FROM opened o
           CROSS JOIN LATERAL (VALUES ($13::text, 'authorize', o.amount, $14::text), ($15::text, 'capture', o.amount_captured, $16::text)) AS c(id, operation, amount, idempotency_key)
         WHERE c.idempotency_key IS NOT NULL AND (o.status = 'captured' OR (o.status = 'authorized' AND c.operation = 'authorize'))
       )
       SELECT * FROM opened`,
      [p.reference, p.payment_id, p.merchant_id, p.method_type, p.token, p.status, p.amount, p.currency, p.amount_captured,
        p.customer_completes_at, p.action_expires_at, p.failure_code, newId('ch'), keys.authorize, newId('ch'), keys.capture ?? null],
    ));
    return rows[0];
  }

  /**
   * Applies a money movement exactly once: the charge row (unique idempotency key) and the state
   * change commit together, and only if the payment is still in one of `from`.
   * Returns false when the key was already used or the state did not allow it.
   */
  async apply(
    reference: string,
    change: { operation: SandboxCharge['operation']; amount: number; idempotencyKey: string; from: SandboxPayment['status'][]; set: string; params?: unknown[]; guard?: string },
  ): Promise<boolean> {
    return inTransaction(this.pool, async (client) => {
      const moved = await client.query(
        `UPDATE sandbox_payments SET ${change.set} WHERE reference = $1 AND status = ANY($2::text[]) ${change.guard ? `AND ${change.guard}` : ''}
           AND NOT EXISTS (SELECT 1 FROM sandbox_charges WHERE idempotency_key = $3) RETURNING payment_id, currency`,
        [reference, change.from, change.idempotencyKey, ...(change.params ?? [])],
      );
      if (moved.rowCount === 0) return false;
      const { payment_id, currency } = moved.rows[0];
      await client.query(
        `INSERT INTO sandbox_charges (id, reference, payment_id, operation, amount, currency, idempotency_key)
         VALUES ($1,$2,$3,$4,$5,$6,$7)`,
        [newId('ch'), reference, payment_id, change.operation, change.amount, currency, change.idempotencyKey],
      );
      return true;
    });
  }

  /** A state change that moves no money (a decline, closing an unpaid QR trade). */
  async setStatus(reference: string, from: SandboxPayment['status'][], to: SandboxPayment['status'], failureCode: string | null = null): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      'UPDATE sandbox_payments SET status = $3, failure_code = $4 WHERE reference = $1 AND status = ANY($2::text[])',
      [reference, from, to, failureCode],
    );
    return rowCount === 1;
  }

  /**
   * What the processor's bill of one UTC day lists: its captures and refunds, with the token that
   * chose the scenario. Transfers settle on our bank account, not through the processor: not on it.
   */
  async billOf(date: string) {
    const { rows } = await this.pool.query<{ reference: string; payment_id: string; operation: 'capture' | 'refund'; amount: number; currency: string; idempotency_key: string; created_at: Date; token: string }>(
      `SELECT c.reference, c.payment_id, c.operation, c.amount, c.currency, c.idempotency_key, c.created_at, p.token FROM sandbox_charges c
       JOIN sandbox_payments p ON p.reference = c.reference AND p.method_type <> 'bank_transfer'
       WHERE c.operation IN ('capture', 'refund') AND c.created_at >= ($1::date)::timestamp AT TIME ZONE 'UTC' AND c.created_at < ($1::date + 1)::timestamp AT TIME ZONE 'UTC'
       ORDER BY c.created_at, c.id`,
      [date],
    );
    return rows;
  }

  /** In the order they were made: an authorization and the capture made with it share an instant. */
  async charges(paymentIds: string[]): Promise<SandboxCharge[]> {
    const { rows } = await this.pool.query(
      `SELECT id, payment_id, operation, amount, currency, idempotency_key, created_at FROM sandbox_charges
       WHERE payment_id = ANY($1::text[]) ORDER BY created_at, operation <> 'authorize', id`,
      [paymentIds],
    );
    return rows.map((r) => ({ ...r, object: 'sandbox_charge', created_at: iso(r.created_at) }));
  }
}
