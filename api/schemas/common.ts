import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { isIP } from 'node:net';
import { z } from 'zod';
import { isKnownCurrency, KNOWN_CURRENCIES, MAX_AMOUNT } from '../../domain/money';

extendZodWithOpenApi(z);
export { z };

/** Length in code points, as JSON Schema's maxLength counts (JavaScript's counts UTF-16 units: 😀 is 2). */
const codePoints = (s: string) => [...s].length;

/** A string of `min` to `max` characters, counted as the document's minLength and maxLength count them. */
export const text = (max: number, min = 0, error = min > 0 ? `must be ${min} to ${max} characters` : `must be at most ${max} characters`) => z
  .string()
  .refine((s) => codePoints(s) >= min && codePoints(s) <= max, { error })
  .openapi({ maxLength: max, ...(min > 0 ? { minLength: min } : {}) });

export const Amount = z
  .number({ error: 'amount must be an integer in the currency minor unit' })
  // The upper bound first: zod's int() also refuses numbers past 2^53, which are too large, not fractional.
  .max(MAX_AMOUNT, { error: `amount must be at most ${MAX_AMOUNT}` })
  .int({ error: 'amount must be an integer in the currency minor unit' })
  .min(1, { error: 'amount must be positive' })
  .openapi({ description: 'Integer amount in the currency minor unit (ISO 4217 exponent).', example: 1999 });

/** `usd` → `[Uu][Ss][Dd]`: a pattern that says "this code in any case" (JSON Schema patterns have no flags). */
export const anyCase = (code: string) => [...code].map((ch) => `[${ch.toUpperCase()}${ch.toLowerCase()}]`).join('');

/** The codes `isKnownCurrency` accepts, in any case. */
export const CURRENCY_PATTERN = `^(?:${KNOWN_CURRENCIES.map(anyCase).join('|')})$`;

export const Currency = z
  .string()
  .length(3, { error: 'currency must be a three-letter ISO 4217 code' })
  .transform((c) => c.toUpperCase())
  .refine(isKnownCurrency, { error: 'unknown currency' })
  // The document states the codes the API knows, so a schema-valid code is never an "unknown currency".
  .openapi('CurrencyCode', {
    type: 'string', pattern: CURRENCY_PATTERN,
    description: 'ISO 4217 code of a currency money can be paid in, any case on input, upper case on output.', example: 'USD',
  });

// Dot-atom local part and a domain of letter-digit-hyphen labels ending in a letter TLD: what the
// receipts' SMTP and the providers accept. Stated as the pattern, since `format: email` admits
// quoted local parts and IP literals that no mail provider takes.
const EMAIL = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;

export const Email = text(254).regex(EMAIL, { error: 'not an email address (name@example.com)' }).openapi({ example: 'jo@example.com' });

/** An IPv4 or IPv6 address, as Node's `net.isIP` reads it. */
export const IpAddress = z
  .string()
  .max(45)
  .refine((ip) => isIP(ip) !== 0, { error: 'not an IPv4 or IPv6 address' })
  .openapi({ type: 'string', anyOf: [{ type: 'string', format: 'ipv4' }, { type: 'string', format: 'ipv6' }] });

export const Metadata = z
  .record(
    text(40, 0, 'metadata keys are at most 40 characters'),
    text(500, 0, 'metadata values are at most 500 characters'),
  )
  .refine((m) => Object.keys(m).length <= 20, { error: 'metadata holds at most 20 keys' })
  .openapi({
    description: 'Up to 20 string keys (≤ 40 chars) with string values (≤ 500 chars).', maxProperties: 20,
    // propertyNames is OpenAPI 3.1 (JSON Schema), missing from the generator's 3.0 typing.
    ...{ propertyNames: { maxLength: 40, pattern: '^[^\\x00]*$' } },
  });

/** A calendar day, YYYY-MM-DD, that exists (no 2026-02-30): RFC 3339 `full-date`, JSON Schema's `format: date`. */
export const Day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, { error: 'a date as YYYY-MM-DD' })
  // Date.parse first: toISOString throws on an impossible date (month 13).
  .refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d), { error: 'not a calendar date' })
  .openapi({ type: 'string', format: 'date', pattern: undefined as unknown as string, example: '2026-11-30' });

export const Timestamp = z.string().openapi({ format: 'date-time', example: '2026-11-25T12:00:00.000Z' });

export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  starting_after: text(100).optional(),
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
