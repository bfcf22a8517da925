import { Currency, Timestamp, z, text } from './common';

export const CreateMerchantBody = z
  .strictObject({
    name: text(200, 1),
    settlement_currency: Currency.optional(),
    fx_margin_bps: z.number().int().min(0).max(1000).optional().openapi({ description: 'Our margin on its cross-border payments, basis points below the mid rate (default FX_DEFAULT_MARGIN_BPS).' }),
  })
  .openapi('CreateMerchant');

export const MerchantObject = z
  .object({
    id: z.string(),
    object: z.literal('merchant'),
    name: z.string(),
    settlement_currency: z.string().nullable(),
    fx_margin_bps: z.number().int(),
    api_key: z.string().optional().openapi({ description: 'The test-mode key (`sk_test_…`). Shown once, at creation; only its hash is stored.' }),
    live_api_key: z.string().optional().openapi({ description: 'The live-mode key (`sk_live_…`). Shown once, at creation; only its hash is stored.' }),
    created_at: Timestamp,
  })
  .openapi('Merchant');

export const BalanceObject = z
  .object({ object: z.literal('balance'), livemode: z.boolean(), balances: z.array(z.object({ currency: z.string(), amount: z.number().int() })) })
  .openapi('Balance');

export const SandboxChargeList = z
  .object({
    object: z.literal('list'),
    data: z.array(
      z.object({
        id: z.string(),
        payment_id: z.string(),
        operation: z.enum(['authorize', 'capture', 'void', 'refund']),
        amount: z.number().int(),
        currency: z.string(),
        idempotency_key: z.string(),
        created_at: Timestamp,
      }),
    ),
  })
  .openapi('SandboxChargeList');
