import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { isKnownCurrency, MAX_AMOUNT } from '../../domain/money';

extendZodWithOpenApi(z);
export { z };

export const Amount = z
  .number({ error: 'amount must be an integer in the currency minor unit' })
  .int({ error: 'amount must be an integer in the currency minor unit' })
  .min(1, { error: 'amount must be positive' })
  .max(MAX_AMOUNT, { error: `amount must be at most ${MAX_AMOUNT}` })
  .openapi({ description: 'Integer amount in the currency minor unit (ISO 4217 exponent).', example: 1999 });

export const Currency = z
  .string()
  .length(3, { error: 'currency must be a three-letter ISO 4217 code' })
  .transform((c) => c.toUpperCase())
  .refine(isKnownCurrency, { error: 'unknown currency' })
  .openapi({ type: 'string', description: 'ISO 4217 code, any case on input, upper case on output.', example: 'USD' });

export const Metadata = z
  .record(z.string().max(40, { error: 'metadata keys are at most 40 characters' }), z.string().max(500, { error: 'metadata values are at most 500 characters' }))
  .refine((m) => Object.keys(m).length <= 20, { error: 'metadata holds at most 20 keys' })
  .openapi({ description: 'Up to 20 string keys (≤ 40 chars) with string values (≤ 500 chars).' });

/** A calendar day, YYYY-MM-DD, that exists (no 2026-02-30). */
export const Day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, { error: 'a date as YYYY-MM-DD' })
  // Date.parse first: toISOString throws on an impossible date (month 13).
  .refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d), { error: 'not a calendar date' });

export const Timestamp = z.string().openapi({ format: 'date-time', example: '2026-11-25T12:00:00.000Z' });

export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  starting_after: z.string().max(100).optional(),
});

export const ErrorBody = z
  .object({
    error: z.object({
      type: z.string(),
      code: z.string(),
      message: z.string(),
      param: z.string().optional(),
    }),
  })
  .openapi('Error');

export const listOf = <T extends z.ZodTypeAny>(item: T, name: string) =>
  z.object({ object: z.literal('list'), data: z.array(item), has_more: z.boolean() }).openapi(name);
