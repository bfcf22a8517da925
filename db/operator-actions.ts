import type { Pool } from 'pg';
import { derivedId } from '../domain/ids';
import { recordEvents } from './events';
import { inTransaction, iso } from './pool';

/** Everything an operator can do, as the audit trail and the API name it. */
export const OPERATOR_ACTIONS = ['retry_step', 'force_cancel', 'resend_event', 'retry_subscription', 'apply_bank_credit', 'confirm_bank_payout'] as const;

export type OperatorAction = {
  id: string;
  object: 'operator_action';
  merchant_id: string;
  action: (typeof OPERATOR_ACTIONS)[number];
  target_id: string;
  reason: string;
  outcome: string;
  created_at: string;
};

type Row = Omit<OperatorAction, 'object' | 'created_at'> & { created_at: Date };
const toAction = (r: Row): OperatorAction => ({ ...r, object: 'operator_action', created_at: iso(r.created_at) });

/** The audit row and the merchant's `operator.action` event, together. */
export async function recordOperatorAction(pool: Pool, a: Omit<OperatorAction, 'object' | 'created_at'>, livemode: boolean): Promise<{ action: OperatorAction; eventId: string }> {
  const eventId = derivedId('evt', a.id, 'operator.action');
  const action = await inTransaction(pool, async (client) => {
    const { rows } = await client.query<Row>(
      `INSERT INTO operator_actions (id, merchant_id, action, target_id, reason, outcome) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (id) DO UPDATE SET outcome = operator_actions.outcome RETURNING *`,
      [a.id, a.merchant_id, a.action, a.target_id, a.reason, a.outcome],
    );
    const recorded = toAction(rows[0]!);
    const { merchant_id: merchantId, ...data } = recorded;
    await recordEvents(client, [{ id: eventId, merchantId, livemode, type: 'operator.action', objectId: a.target_id, data }]);
    return recorded;
  });
  return { action, eventId };
}

export async function findOperatorAction(pool: Pool, id: string): Promise<OperatorAction | undefined> {
  const { rows } = await pool.query<Row>('SELECT * FROM operator_actions WHERE id = $1', [id]);
  return rows[0] && toAction(rows[0]);
}
