import { Amount, Currency, Timestamp, z } from './common';

export const CreateFxQuoteBody = z.strictObject({
  from: Currency,
  to: Currency,
  amount: Amount.optional().openapi({ description: 'In `from` minor units: the quote then says what it converts to, and only a payment of this amount may use it.' }),
}).openapi('CreateFxQuote');

const Rate = z.string().openapi({ description: 'Decimal string: units of `to` per 1 unit of `from`.', example: '8.38541' });

export const FxQuoteObject = z.object({
  id: z.string(), object: z.literal('fx_quote'), livemode: z.boolean(), from: z.string(), to: z.string(), rate: Rate, mid_rate: Rate,
  margin_bps: z.number().int(), amount: z.number().int().nullable(), converted_amount: z.number().int().nullable(), source: z.enum(['static', 'ecb']),
  as_of: z.string().openapi({ format: 'date' }), expires_at: Timestamp, payment_id: z.string().nullable(), created_at: Timestamp,
}).openapi('FxQuote');

export const FxRatesObject = z.object({
  object: z.literal('fx_rates'), base: z.literal('EUR'), source: z.enum(['static', 'ecb']), as_of: z.string().openapi({ format: 'date' }), fetched_at: Timestamp,
  stale: z.boolean(), rates: z.record(z.string(), z.string()).openapi({ description: '1 EUR = x units, decimal strings.' }),
}).openapi('FxRates');
