import { PROVIDERS } from '../../domain/payment';
import { ITEM_STATUSES } from '../../reconciliation/match';
import { Day, Timestamp, listOf, z, text } from './common';


export const CreateRunBody = z
  .object({ provider: z.enum(PROVIDERS), date: Day.openapi({ description: "The report's day, in the provider's time zone (Alipay and WeChat Pay: China Standard Time; Stripe and the sandbox: UTC)." }), livemode: z.boolean().default(false) })
  .strict()
  .openapi('CreateReconciliationRun');

const Counts = z.record(z.string(), z.number().int()).openapi({ description: 'Items per classification, `matched` included.' });
export const RunObject = z
  .object({
    id: z.string(), object: z.literal('reconciliation_run'), provider: z.string(), livemode: z.boolean(), date: z.string(), status: z.enum(['running', 'completed', 'failed']),
    counts: Counts, totals: z.array(z.object({ currency: z.string(), gross: z.number().int(), fee: z.number().int(), net: z.number().int(), lines: z.number().int() })),
    failure: z.string().nullable(), attempts: z.number().int(), created_at: Timestamp, completed_at: Timestamp.nullable(),
  })
  .openapi('ReconciliationRun');
export const RunList = listOf(RunObject, 'ReconciliationRunList');
export const RunListQuery = z.object({ livemode: z.enum(['true', 'false']).optional(), limit: z.coerce.number().int().min(1).max(100).default(20) }).strict();

export const ItemObject = z
  .object({
    id: z.string(), object: z.literal('reconciliation_item'), run_id: z.string(), livemode: z.boolean(), provider: z.string(), status: z.enum(ITEM_STATUSES),
    payment_id: z.string().nullable(), refund_id: z.string().nullable(), provider_reference: z.string().nullable(),
    reported: z.object({ type: z.enum(['charge', 'refund', 'fee', 'adjustment']), gross: z.number().int(), fee: z.number().int(), net: z.number().int(), currency: z.string(), settled_at: z.string() }).nullable(),
    recorded: z.object({ kind: z.enum(['capture', 'refund']), amount: z.number().int(), currency: z.string(), status: z.string(), expected_fee: z.number().int().nullable() }).nullable(),
    message: z.string(), requires_attention: z.boolean(), resolution: z.string().nullable(), note: z.string().nullable(), resolved_at: Timestamp.nullable(),
    created_at: Timestamp, updated_at: Timestamp,
  })
  .openapi('ReconciliationItem');
export const ItemList = listOf(ItemObject, 'ReconciliationItemList');
export const ItemListQuery = z
  .object({ run_id: text(100).optional(), status: z.enum(ITEM_STATUSES).optional(), livemode: z.enum(['true', 'false']).optional(), limit: z.coerce.number().int().min(1).max(100).default(100) })
  .strict();

export const RESOLUTIONS = ['accepted', 'corrected', 'provider_adjusted', 'refunded', 'written_off', 'false_positive'] as const;
export const ResolveItemBody = z
  .object({ resolution: z.enum(RESOLUTIONS), note: text(1000, 1) })
  .strict()
  .openapi('ResolveReconciliationItem');
