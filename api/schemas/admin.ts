import { Timestamp, z, text } from './common';
import { OPERATOR_ACTIONS } from '../../db/operator-actions';
import { PaymentObject } from './payments';

export const OperatorActionBody = z
  .strictObject({ reason: text(500, 1).openapi({ description: 'Why: kept in the audit trail and shown to the merchant.', example: 'Customer paid; notification lost' }) })
  .openapi('OperatorActionRequest');

export const OperatorActionObject = z
  .object({
    id: z.string().openapi({ example: 'opa_7Hk...' }),
    object: z.literal('operator_action'),
    merchant_id: z.string(),
    action: z.enum(OPERATOR_ACTIONS),
    target_id: z.string(),
    reason: z.string(),
    outcome: z.string(),
    created_at: Timestamp,
    payment: PaymentObject.optional().openapi({ description: 'For payment actions: the payment as it stands after the action.' }),
  })
  .openapi('OperatorAction');
