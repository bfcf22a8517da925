import { CHANNELS, PAYMENT_METHOD_TYPES, PROVIDERS } from '../../domain/payment';
import { Amount, Currency, CURRENCY_PATTERN, Timestamp, z, text } from './common';

const Provider = z.enum(PROVIDERS);
const Method = z.enum(PAYMENT_METHOD_TYPES);
const ProviderList = z.array(Provider).min(1).max(PROVIDERS.length);

const Condition = z
  .strictObject({
    'payment_method.type': Method.optional(),
    currency: Currency.optional(),
    amount_gte: Amount.optional(),
    amount_lt: Amount.optional(),
    channel: z.enum(CHANNELS).optional(),
  })
  .openapi({ description: 'Every condition given must hold (a range with `amount_gte` ≥ `amount_lt` never does).' });

const Rule = z
  .strictObject({
    id: text(64, 1).regex(/^[A-Za-z0-9_.:-]+$/).optional().openapi({ description: 'Recorded on the payments it routes (`routing.rule`); default `rules[<index>]`.' }),
    if: Condition.default({}),
    providers: ProviderList.optional().openapi({ description: 'In priority order: the first healthy one wins, the next ones are failovers.' }),
    split: z.array(z.strictObject({ provider: Provider, weight: z.number().int().min(1).max(10_000) })).min(1).max(PROVIDERS.length).optional()
      .openapi({ description: 'Volume split by weight, fixed per payment id.' }),
    strategy: z.enum(['priority', 'lowest_fee']).optional().openapi({ description: '`lowest_fee` orders `providers` by the fee schedule for each payment.' }),
  })
  .superRefine((r, ctx) => {
    if ((r.providers === undefined) === (r.split === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'a rule names either providers or split', path: [r.split ? 'split' : 'providers'] });
    }
    if (r.split && r.strategy) ctx.addIssue({ code: 'custom', message: 'a split has no strategy', path: ['strategy'] });
  })
  // A provider named twice in a split carries the sum of its weights.
  .transform((r) => (r.split ? { ...r, split: [...r.split.reduce((w, s) => w.set(s.provider, (w.get(s.provider) ?? 0) + s.weight), new Map<string, number>())].map(([provider, weight]) => ({ provider: provider as (typeof PROVIDERS)[number], weight })) } : r))
  .openapi({
    oneOf: [
      { required: ['providers'], not: { required: ['split'] } },
      { required: ['split'], not: { anyOf: [{ required: ['providers'] }, { required: ['strategy'] }] } },
    ],
  });

const FeeSchedule = z.strictObject({
  percent: z.number().min(0).max(100),
  fixed: z.record(z.string().length(3).regex(/^[A-Za-z]{3}$/), z.number().int().min(0).max(1_000_000_000)).optional()
    // propertyNames is OpenAPI 3.1 (JSON Schema), missing from the generator's 3.0 typing.
    .openapi({ description: 'Fixed fee per currency, in its minor unit.', ...{ propertyNames: { pattern: CURRENCY_PATTERN } } }),
});

export const RoutingConfigBody = z
  .strictObject({
    rules: z.array(Rule).max(100).default([]),
    // A record keyed by an enum refuses other keys: stated, since the generator leaves additionalProperties open.
    fees: z.partialRecord(Provider, z.partialRecord(Method, FeeSchedule).openapi({ additionalProperties: false })).default({}).openapi({ additionalProperties: false }),
    default: z.partialRecord(Method, ProviderList).default({}).openapi({ description: 'Providers per method when no rule matches.', additionalProperties: false }),
  })
  .openapi('RoutingConfig');

export const RoutingObject = z
  .object({
    object: z.literal('routing'),
    livemode: z.boolean(),
    rules: z.array(z.record(z.string(), z.unknown())),
    fees: z.record(z.string(), z.unknown()),
    default: z.record(z.string(), z.array(Provider)),
    updated_at: Timestamp.nullable(),
  })
  .openapi('Routing');

export const ProviderHealthList = z
  .object({
    object: z.literal('list'),
    data: z.array(
      z.object({
        object: z.literal('provider'),
        provider: Provider,
        livemode: z.boolean(),
        methods: z.array(Method),
        circuit: z.object({
          state: z.enum(['closed', 'open', 'half_open']),
          consecutive_failures: z.number().int(),
          opened_at: Timestamp.nullable(),
          last_failure: z.string().nullable(),
          last_failure_at: Timestamp.nullable(),
          last_success_at: Timestamp.nullable(),
        }),
      }),
    ),
    has_more: z.boolean(),
  })
  .openapi('ProviderHealthList');
