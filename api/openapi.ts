import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import type { z } from 'zod';
import { OperatorActionBody, OperatorActionObject } from './schemas/admin';
import { ErrorBody, ListQuery } from './schemas/common';
import {
  AdminApplyBankCreditBody, AdminBankCreditQuery, ApplyBankCreditBody, BankCreditList, BankCreditListQuery, BankCreditObject, BankPayoutList, BankPayoutListQuery,
  BankPayoutObject, BankTransferSettingsBody, BankTransferSettingsObject, CustomerBalanceObject, IncomingCreditBody, StatementImportObject, StatementImportQuery,
} from './schemas/bank';
import { RiskRulesBody } from '../risk/rules';
import { MAX_AMOUNT } from '../domain/money';
import { z as zod } from './schemas/common';
import { CreateRunBody, ItemList, ItemListQuery, ItemObject, ResolveItemBody, RunList, RunListQuery, RunObject } from './schemas/reconciliation';
import {
  CreateWebhookEndpointBody, DeletedWebhookEndpoint, EventList, EventListQuery, EventObject, ResendEventBody, RotateSecretBody, UpdateWebhookEndpointBody,
  WebhookEndpointList, WebhookEndpointObject,
} from './schemas/events';
import { BalanceObject, CreateMerchantBody, MerchantObject, SandboxChargeList } from './schemas/merchants';
import { ProviderHealthList, RoutingConfigBody, RoutingObject } from './schemas/routing';
import { CreateFxQuoteBody, FxQuoteObject, FxRatesObject } from './schemas/fx';
import {
  AdvanceTestClockBody, BillingSettingsBody, BillingSettingsObject, CancelSubscriptionBody, CreateCustomerBody, CreateSubscriptionBody, CreateTestClockBody,
  CustomerList, CustomerListQuery, CustomerObject, InvoiceList, InvoiceListQuery, InvoiceObject, PauseSubscriptionBody, PaymentMethodList, PaymentMethodObject,
  SavePaymentMethodBody, SubscriptionList, SubscriptionListQuery, SubscriptionObject, TestClockObject, UpdateCustomerBody, UpdateSubscriptionBody,
} from './schemas/billing';
import {
  CaptureBody, ReviewBody, CreatePaymentBody, CreateRefundBody, PaymentList, PaymentListQuery, PaymentObject, RefundList, RefundListQuery, RefundObject,
} from './schemas/payments';

/** Its own object, not an extension: the rules' schema is strict, and allOf of two strict objects accepts nothing. */
const RiskRulesObject = zod.object({ object: zod.literal('risk_rules'), livemode: zod.boolean(), rules: RiskRulesBody.shape.rules }).openapi('RiskRulesObject');

type Method = 'get' | 'post' | 'delete';
/** `raw`: the body is a file of these types (not JSON). */
/** `also`: other answers that are not errors (a 202 with the object as it stands). */
/** `rules`: 400 codes for requests the schema accepts, by rules JSON Schema cannot state (`x-rules` on the 400). */
type Route = {
  method: Method; path: string; summary: string; body?: z.ZodTypeAny; raw?: string[]; also?: [number, z.ZodTypeAny][]; rules?: Record<string, string>; query?: z.ZodObject;
  ok: [number, z.ZodTypeAny]; errors: number[];
  /** The operator's key only (true), or the merchant's key as well ('too'). */
  admin?: boolean | 'too'; public?: boolean;
};

const IdParam = (name: string) => ({ name, in: 'path' as const, required: true, schema: { type: 'string' as const } });

/** Every route of API.md, described from the same zod schemas the handlers validate with. */
const ROUTES: Route[] = [
  { method: 'post', path: '/v1/merchants', summary: 'Create a merchant (admin key)', body: CreateMerchantBody, ok: [201, MerchantObject], errors: [400, 401, 409], admin: true },
  { method: 'post', path: '/v1/payments', summary: 'Create a payment and authorize it synchronously', body: CreatePaymentBody,
    rules: {
      fx_unavailable: 'No fresh exchange rate converts currency to settlement_currency.', amount_too_small: 'The amount converts to less than one minor unit of settlement_currency.',
      fx_quote_expired: 'fx_quote_id has expired.', fx_quote_used: 'fx_quote_id settled another payment.', fx_quote_mismatch: 'fx_quote_id is for another pair or amount.',
      provider_unavailable: 'The provider is not configured for the key\'s mode.', payment_method_not_supported: 'No configured provider takes this method in this channel.',
      invalid_amount: 'The payment\'s provider cannot move this amount in this currency (such as Stripe\'s ISK in whole units).', amount_too_large: 'Past the provider\'s limit for this currency.', parameter_missing: 'WeChat Pay in a phone browser needs client_ip.',
    },
    ok: [201, PaymentObject], also: [[202, PaymentObject]], errors: [400, 401, 402, 404, 409, 413, 502, 503] },
  { method: 'get', path: '/v1/payments', summary: 'List payments, newest first', query: PaymentListQuery, ok: [200, PaymentList], errors: [400, 401] },
  { method: 'get', path: '/v1/payments/{id}', summary: 'Retrieve a payment', ok: [200, PaymentObject], errors: [401, 404] },
  { method: 'post', path: '/v1/payments/{id}/capture', summary: 'Capture an authorized payment (full or partial)', body: CaptureBody, rules: { invalid_amount: 'The payment\'s provider cannot move this amount in this currency (such as Stripe\'s ISK in whole units).', amount_too_large: 'Past the provider\'s limit for this currency.' }, ok: [200, PaymentObject], errors: [400, 401, 404, 409] },
  { method: 'post', path: '/v1/payments/{id}/cancel', summary: 'Cancel (void) a payment', ok: [200, PaymentObject], errors: [401, 404, 409] },
  { method: 'post', path: '/v1/refunds', summary: 'Refund a captured payment (partial or whole remainder)', body: CreateRefundBody, rules: { invalid_amount: 'The payment\'s provider cannot move this amount in this currency (such as Stripe\'s ISK in whole units).', amount_too_large: 'Past the provider\'s limit for this currency.' }, ok: [201, RefundObject], errors: [400, 401, 404, 409] },
  { method: 'get', path: '/v1/refunds', summary: 'List refunds', query: RefundListQuery, ok: [200, RefundList], errors: [400, 401] },
  { method: 'get', path: '/v1/refunds/{id}', summary: 'Retrieve a refund', ok: [200, RefundObject], errors: [401, 404] },
  { method: 'get', path: '/v1/events', summary: 'List merchant events, newest first', query: EventListQuery, ok: [200, EventList], errors: [400, 401] },
  { method: 'get', path: '/v1/events/{id}', summary: 'Retrieve an event with its deliveries and attempts', ok: [200, EventObject], errors: [401, 404] },
  { method: 'post', path: '/v1/events/{id}/resend', summary: 'Deliver an event again', body: ResendEventBody, ok: [200, EventObject], errors: [400, 401, 404, 409] },
  { method: 'post', path: '/v1/webhook_endpoints', summary: 'Create a webhook endpoint (its secret is shown once)', body: CreateWebhookEndpointBody, ok: [201, WebhookEndpointObject], errors: [400, 401, 403, 409] },
  { method: 'get', path: '/v1/webhook_endpoints', summary: 'List webhook endpoints', query: ListQuery, ok: [200, WebhookEndpointList], errors: [400, 401] },
  { method: 'get', path: '/v1/webhook_endpoints/{id}', summary: 'Retrieve a webhook endpoint', ok: [200, WebhookEndpointObject], errors: [401, 404] },
  { method: 'post', path: '/v1/webhook_endpoints/{id}', summary: 'Update a webhook endpoint (url, events, description, status)', body: UpdateWebhookEndpointBody, ok: [200, WebhookEndpointObject], errors: [400, 401, 403, 404] },
  { method: 'post', path: '/v1/webhook_endpoints/{id}/rotate_secret', summary: 'Roll the signing secret; the old one keeps signing during the overlap', body: RotateSecretBody, ok: [200, WebhookEndpointObject], errors: [400, 401, 404, 409] },
  { method: 'delete', path: '/v1/webhook_endpoints/{id}', summary: 'Delete a webhook endpoint (pending deliveries stop)', ok: [200, DeletedWebhookEndpoint], errors: [401, 404] },
  { method: 'post', path: '/v1/admin/payments/{id}/retry', summary: 'Operator: retry the payment\'s stuck step now (audited)', body: OperatorActionBody, ok: [200, OperatorActionObject], errors: [400, 401, 404, 409], admin: true },
  { method: 'post', path: '/v1/admin/payments/{id}/cancel', summary: 'Operator: force-cancel a payment (audited)', body: OperatorActionBody, ok: [200, OperatorActionObject], errors: [400, 401, 404, 409, 503], admin: true },
  { method: 'post', path: '/v1/admin/events/{id}/resend', summary: 'Operator: re-send an event to the merchant\'s endpoints (audited)', body: OperatorActionBody, ok: [200, OperatorActionObject], errors: [400, 401, 404, 409], admin: true },
  { method: 'get', path: '/v1/routing', summary: 'The routing rules of the key\'s mode', ok: [200, RoutingObject], errors: [401] },
  { method: 'post', path: '/v1/routing', summary: 'Replace the routing rules of the key\'s mode (rules, fee schedules, default lists)', body: RoutingConfigBody, rules: { routing_invalid: 'A provider that cannot take the rule\'s method or currency.', provider_unavailable: 'The provider is not configured for the key\'s mode.' }, ok: [200, RoutingObject], errors: [400, 401] },
  { method: 'get', path: '/v1/admin/providers', summary: 'Operator: configured providers per mode and their circuit breakers', ok: [200, ProviderHealthList], errors: [401], admin: true },
  { method: 'post', path: '/v1/customers', summary: 'Create a customer (optionally on a test clock)', body: CreateCustomerBody, ok: [201, CustomerObject], errors: [400, 401, 404, 409] },
  { method: 'get', path: '/v1/customers', summary: 'List customers, newest first', query: CustomerListQuery, ok: [200, CustomerList], errors: [400, 401] },
  { method: 'get', path: '/v1/customers/{id}', summary: 'Retrieve a customer', ok: [200, CustomerObject], errors: [401, 404] },
  { method: 'post', path: '/v1/customers/{id}', summary: 'Update a customer (email, name, metadata, default payment method)', body: UpdateCustomerBody, ok: [200, CustomerObject], errors: [400, 401, 404] },
  { method: 'post', path: '/v1/customers/{id}/payment_methods', summary: 'Save a card for the customer (a provider reference; Stripe: attached to a Stripe Customer)', body: SavePaymentMethodBody, rules: { provider_unavailable: 'The provider is not configured for the key\'s mode.', card_not_saved: 'The provider refused the card.' }, ok: [201, PaymentMethodObject], errors: [400, 401, 404, 409, 502] },
  { method: 'get', path: '/v1/customers/{id}/payment_methods', summary: 'The customer\'s saved payment methods, oldest first', ok: [200, PaymentMethodList], errors: [401, 404] },
  { method: 'delete', path: '/v1/customers/{id}/payment_methods/{pm}', summary: 'Detach a saved payment method', ok: [200, PaymentMethodObject], errors: [401, 404] },
  { method: 'post', path: '/v1/subscriptions', summary: 'Create a subscription: its first invoice is charged (or its trial starts) before the answer', body: CreateSubscriptionBody, rules: { time_out_of_range: 'billing_cycle_anchor is past, or more than one interval ahead, of now (or the test clock).', amount_too_large: `price.amount × quantity is past the largest payment (${MAX_AMOUNT}): each period's invoice is one payment.` }, ok: [201, SubscriptionObject], errors: [400, 401, 404, 409, 503] },
  { method: 'get', path: '/v1/subscriptions', summary: 'List subscriptions', query: SubscriptionListQuery, ok: [200, SubscriptionList], errors: [400, 401] },
  { method: 'get', path: '/v1/subscriptions/{id}', summary: 'Retrieve a subscription', ok: [200, SubscriptionObject], errors: [401, 404] },
  { method: 'post', path: '/v1/subscriptions/{id}', summary: 'Change price, quantity or payment method, with a proration behavior', body: UpdateSubscriptionBody, rules: { currency_change: 'A subscription keeps its currency.', amount_too_large: `price.amount × quantity (after the change) is past the largest payment (${MAX_AMOUNT}).` }, ok: [200, SubscriptionObject], errors: [400, 401, 404, 409] },
  { method: 'post', path: '/v1/subscriptions/{id}/cancel', summary: 'Cancel now (optionally crediting unused time) or at the period end', body: CancelSubscriptionBody, ok: [200, SubscriptionObject], errors: [400, 401, 404, 409] },
  { method: 'post', path: '/v1/subscriptions/{id}/pause', summary: 'Pause collection (keep_as_draft, mark_uncollectible or void), optionally until resumes_at', body: PauseSubscriptionBody, rules: { time_in_past: 'resumes_at is not after now (or the test clock).' }, ok: [200, SubscriptionObject], errors: [400, 401, 404, 409] },
  { method: 'post', path: '/v1/subscriptions/{id}/resume', summary: 'Resume a paused subscription', ok: [200, SubscriptionObject], errors: [401, 404, 409] },
  { method: 'get', path: '/v1/invoices', summary: 'List invoices', query: InvoiceListQuery, ok: [200, InvoiceList], errors: [400, 401] },
  { method: 'get', path: '/v1/invoices/{id}', summary: 'Retrieve an invoice', ok: [200, InvoiceObject], errors: [401, 404] },
  { method: 'post', path: '/v1/invoices/{id}/pay', summary: 'Charge an open invoice now', ok: [200, InvoiceObject], errors: [401, 404, 409] },
  { method: 'post', path: '/v1/invoices/{id}/void', summary: 'Void an open invoice', ok: [200, InvoiceObject], errors: [401, 404, 409] },
  { method: 'post', path: '/v1/test_clocks', summary: 'Create a test clock (test mode)', body: CreateTestClockBody, ok: [201, TestClockObject], errors: [400, 401, 409] },
  { method: 'get', path: '/v1/test_clocks/{id}', summary: 'Retrieve a test clock', ok: [200, TestClockObject], errors: [400, 401, 404] },
  { method: 'post', path: '/v1/test_clocks/{id}/advance', summary: 'Advance a test clock: every renewal, retry and trial end in between runs before it is ready', body: AdvanceTestClockBody, ok: [200, TestClockObject], errors: [400, 401, 404, 409] },
  { method: 'get', path: '/v1/billing_settings', summary: 'The dunning policy of the key\'s mode', ok: [200, BillingSettingsObject], errors: [401] },
  { method: 'post', path: '/v1/billing_settings', summary: 'Set the dunning schedule and what happens when it is exhausted', body: BillingSettingsBody, ok: [200, BillingSettingsObject], errors: [400, 401] },
  { method: 'post', path: '/v1/admin/subscriptions/{id}/retry', summary: 'Operator: charge a subscription\'s open invoices now (audited)', body: OperatorActionBody, ok: [200, OperatorActionObject], errors: [400, 401, 404, 409], admin: true },
  { method: 'get', path: '/v1/fx/rates', summary: 'The reference rates quotes are made on (1 EUR = x), their date and whether they are stale', ok: [200, FxRatesObject], errors: [401, 503] },
  { method: 'post', path: '/v1/fx/quotes', summary: 'Lock a rate for a payment: mid rate less the merchant margin, valid FX_QUOTE_TTL_SECONDS', body: CreateFxQuoteBody, rules: { fx_unavailable: 'No fresh exchange rate converts the pair (GET /v1/fx/rates lists the currencies).', amount_too_small: 'The amount converts to less than one minor unit.' }, ok: [201, FxQuoteObject], errors: [400, 401, 409] },
  { method: 'get', path: '/v1/fx/quotes/{id}', summary: 'Retrieve an FX quote', ok: [200, FxQuoteObject], errors: [401, 404] },
  { method: 'post', path: '/v1/test_helpers/bank_transfers/incoming', summary: 'Test mode: a bank credit arrives (deduplicated by credit_id), and is matched', body: IncomingCreditBody, ok: [201, BankCreditObject], also: [[200, BankCreditObject]], errors: [400, 401, 404, 409] },
  { method: 'get', path: '/v1/bank_credits', summary: 'Bank credits of the merchant (its own feeds, and those applied to its payments)', query: BankCreditListQuery, ok: [200, BankCreditList], errors: [400, 401] },
  { method: 'get', path: '/v1/bank_credits/{id}', summary: 'Retrieve a bank credit and where its money went', ok: [200, BankCreditObject], errors: [401, 404] },
  { method: 'post', path: '/v1/bank_credits/{id}/apply', summary: 'Apply an unmatched credit to a transfer payment', body: ApplyBankCreditBody, ok: [200, BankCreditObject], errors: [400, 401, 404, 409] },
  { method: 'get', path: '/v1/bank_payouts', summary: 'Refunds and returns of transfer money, pending until the bank confirms them', query: BankPayoutListQuery, ok: [200, BankPayoutList], errors: [400, 401] },
  { method: 'get', path: '/v1/bank_payouts/{id}', summary: 'Retrieve a bank payout', ok: [200, BankPayoutObject], errors: [401, 404] },
  { method: 'post', path: '/v1/test_helpers/bank_payouts/{id}/confirm', summary: 'Test mode: the bank confirms a payout left the account', ok: [200, BankPayoutObject], errors: [400, 401, 404] },
  { method: 'get', path: '/v1/bank_transfer_settings', summary: 'How long transfer instructions last, and where under- and overpayments go', ok: [200, BankTransferSettingsObject], errors: [401] },
  { method: 'post', path: '/v1/bank_transfer_settings', summary: 'Set the transfer expiry and the under-/overpayment policies', body: BankTransferSettingsBody, ok: [200, BankTransferSettingsObject], errors: [400, 401] },
  { method: 'get', path: '/v1/customers/{id}/balance', summary: 'The customer\'s cash balance (from transfer overpayments) and invoice credit', ok: [200, CustomerBalanceObject], errors: [401, 404] },
  { method: 'get', path: '/v1/admin/bank_credits', summary: 'Operator: the platform account\'s credits (e.g. status=unmatched)', query: AdminBankCreditQuery, ok: [200, BankCreditList], errors: [400, 401], admin: true },
  { method: 'post', path: '/v1/admin/bank_credits/{id}/apply', summary: 'Operator: apply a credit to a transfer payment (audited)', body: AdminApplyBankCreditBody, ok: [200, BankCreditObject], errors: [400, 401, 404, 409], admin: true },
  { method: 'post', path: '/v1/admin/bank_payouts/{id}/confirm', summary: 'Operator: a payout left the bank account (audited)', body: OperatorActionBody, ok: [200, BankPayoutObject], errors: [400, 401, 404], admin: true },
  { method: 'post', path: '/v1/bank_statements', summary: 'Import a bank statement (camt.053 XML or CSV body): credits are matched, debits confirm payouts', query: StatementImportQuery, raw: ['application/xml', 'text/csv'],
    rules: { statement_invalid: 'The body is not a camt.053 statement or a statement CSV (its grammar is not JSON Schema\'s to state).', statement_missing: 'The body is empty.' }, ok: [200, StatementImportObject], errors: [400, 401, 403, 413], admin: 'too' },
  { method: 'post', path: '/v1/reconciliation/runs', summary: 'Operator: reconcile one provider\'s settlement report of one day (admin key); a re-run updates the same run', body: CreateRunBody,
    rules: { provider_unavailable: 'The provider is not configured for that mode, or publishes no settlement report.' }, ok: [200, RunObject], errors: [400, 401, 503], admin: true },
  { method: 'get', path: '/v1/reconciliation/runs', summary: 'Reconciliation runs (a merchant key: its own counts)', query: RunListQuery, ok: [200, RunList], errors: [400, 401, 403], admin: 'too' },
  { method: 'get', path: '/v1/reconciliation/runs/{id}', summary: 'A reconciliation run: status, counts per classification, report totals', ok: [200, RunObject], errors: [401, 404], admin: 'too' },
  { method: 'get', path: '/v1/reconciliation/items', summary: 'Reconciliation items (a merchant key: those about its own payments)', query: ItemListQuery, ok: [200, ItemList], errors: [400, 401, 403], admin: 'too' },
  { method: 'post', path: '/v1/reconciliation/items/{id}/resolve', summary: 'Operator: resolve a difference with a note', body: ResolveItemBody, ok: [200, ItemObject], errors: [400, 401, 404], admin: true },
  { method: 'get', path: '/v1/risk/rules', summary: 'The risk rules of the key\'s mode (the defaults until saved)', ok: [200, RiskRulesObject], errors: [401] },
  { method: 'post', path: '/v1/risk/rules', summary: 'Replace the risk rules: an ordered list, the first matching rule decides (allow, review, block)', body: RiskRulesBody, ok: [200, RiskRulesObject], errors: [400, 401] },
  { method: 'post', path: '/v1/payments/{id}/review', summary: 'Approve or reject a payment held for review (merchant key or admin key)', body: ReviewBody, ok: [200, PaymentObject], also: [[202, PaymentObject]], errors: [400, 401, 404, 409, 503], admin: 'too' },
  { method: 'get', path: '/v1/balance', summary: 'What the merchant is owed, per currency, from the ledger', ok: [200, BalanceObject], errors: [401] },
  { method: 'get', path: '/sandbox/charges', summary: 'Effects the sandbox processor really applied', ok: [200, SandboxChargeList], errors: [401] },
  { method: 'post', path: '/sandbox/payments/{id}/complete', summary: 'Sandbox: the customer completes the required action', ok: [200, PaymentObject], errors: [404, 409], public: true },
  { method: 'post', path: '/sandbox/payments/{id}/fail', summary: 'Sandbox: the customer fails the required action', ok: [200, PaymentObject], errors: [404, 409], public: true },
];

/** A POST answered by a workflow answers 202 with the object as it stands when it takes longer than SYNC_WAIT_MS. */
const stillWorking = (r: Route): boolean =>
  r.method === 'post' && [PaymentObject, RefundObject, SubscriptionObject, InvoiceObject].includes(r.ok[1] as never) && !(r.also ?? []).some(([code]) => code === 202);

let cached: object | undefined;

export function openApiDocument(): object {
  if (cached) return cached;
  const registry = new OpenAPIRegistry();
  registry.register('Error', ErrorBody);
  const merchantKey = registry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http', scheme: 'bearer', description: "The merchant's secret key: sk_test_… acts in test mode, sk_live_… in live mode.",
  });
  const operatorKey = registry.registerComponent('securitySchemes', 'adminAuth', {
    type: 'http', scheme: 'bearer', description: "The operator's key (ADMIN_API_KEY): merchants, operator actions, reconciliation.",
  });
  for (const r of ROUTES) {
    const pathParams = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => IdParam(m[1]!));
    registry.registerPath({
      method: r.method,
      path: r.path,
      operationId: operationName(r),
      summary: r.summary,
      ...(r.public ? {} : {
        security: r.admin === true ? [{ [operatorKey.name]: [] }] : r.admin === 'too' ? [{ [merchantKey.name]: [] }, { [operatorKey.name]: [] }] : [{ [merchantKey.name]: [] }],
      }),
      parameters: [
        ...pathParams,
        ...(r.method === 'post' ? [{ name: 'Idempotency-Key', in: 'header' as const, required: false, schema: { type: 'string' as const, minLength: 1, maxLength: 255 } }] : []),
      ],
      request: {
        ...(r.query ? { query: r.query } : {}),
        // A body whose fields all have defaults may be left out: the API reads a missing body as `{}`.
        ...(r.body ? { body: { content: { 'application/json': { schema: r.body } }, required: !r.body.safeParse({}).success } } : {}),
        ...(r.raw ? { body: { content: Object.fromEntries(r.raw.map((type) => [type, { schema: { type: 'string' as const } }])), required: true } } : {}),
      },
      responses: {
        [r.ok[0]]: { description: 'OK', content: { 'application/json': { schema: r.ok[1] } }, ...linksFrom(r) },
        ...Object.fromEntries([...(r.also ?? []), ...(stillWorking(r) ? [[202, r.ok[1]] as [number, z.ZodTypeAny]] : [])]
          .map(([code, schema]) => [code, { description: code === 202 ? 'Accepted: still working (or held for review); the object as it stands' : 'OK', content: { 'application/json': { schema } } }])),
        // Any POST may answer 400 for its Idempotency-Key (empty, or longer than 255 characters), and 409
        // when the key was used with another body or its first request is still in flight (API.md); 413 past 64 KiB.
        // A list's query (a `limit` out of range) is a 400 too; an unknown `starting_after` is a 404, as Stripe answers.
        // Every operation reads PostgreSQL (the key itself) and may be a 503 while it or Temporal is unreachable (API.md).
        ...Object.fromEntries([...new Set([...r.errors, ...(r.method === 'post' ? [400, 409, 413] : []), ...(r.query ? [400, 404] : []), 503])]
          .map((code) => [code, { description: 'Error', content: { 'application/json': { schema: ErrorBody } }, ...(code === 400 && r.rules ? { 'x-rules': r.rules } : {}) }])),
      },
    });
  }
  for (const [path, summary] of [['/healthz', 'Process is up'], ['/readyz', 'Temporal and PostgreSQL reachable']] as const) {
    registry.registerPath({ method: 'get', path, summary, responses: { 200: { description: 'OK' }, 503: { description: 'Not ready' } } });
  }
  cached = withoutNul(new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: { title: 'Payment orchestrator API', version: '0.1.0', description: 'Durable payments on Temporal. Contract: shared/API.md.' },
    servers: [{ url: '/' }],
  }));
  return cached;
}

/**
 * The routes a created object's id leads to (its page, capture, cancel, refund…), as OpenAPI
 * links: clients and schemathesis's stateful phase follow them instead of guessing ids.
 */
function linksFrom(r: Route): { links?: Record<string, object> } {
  if (r.method !== 'post' || r.path.includes('{') || r.ok[0] !== 201) return {};
  const links: Record<string, object> = {};
  for (const next of ROUTES) {
    const id = new RegExp(`^${r.path}/\\{(\\w+)\\}`).exec(next.path);
    if (id) links[operationName(next)] = { operationId: operationName(next), parameters: { [id[1]!]: '$response.body#/id' } };
  }
  const route = (method: Method, path: string) => operationName(ROUTES.find((x) => x.path === path && x.method === method)!);
  if (r.path === '/v1/payments') {
    // A payment's refunds name it in their body; the sandbox's customer acts on its pending action.
    links.refund = { operationId: route('post', '/v1/refunds'), requestBody: { payment_id: '$response.body#/id' } };
    for (const action of ['complete', 'fail']) links[`sandbox_${action}`] = { operationId: route('post', `/sandbox/payments/{id}/${action}`), parameters: { id: '$response.body#/id' } };
  }
  // A subscription's first invoice.
  if (r.path === '/v1/subscriptions') {
    for (const [method, path] of [['get', '/v1/invoices/{id}'], ['post', '/v1/invoices/{id}/pay'], ['post', '/v1/invoices/{id}/void']] as const) {
      links[route(method, path)] = { operationId: route(method, path), parameters: { id: '$response.body#/latest_invoice' } };
    }
  }
  return Object.keys(links).length ? { links } : {};
}

/** A stable operationId from method and path: `post_v1_payments_id_capture`. */
function operationName(r: Route): string {
  return `${r.method}${r.path.replace(/[{}]/g, '').replace(/[^a-zA-Z0-9]+/g, '_')}`;
}

const NO_NUL = '^[^\\x00]*$';

/**
 * Every free-text string and map key (no enum, format or pattern of its own) says what the API
 * enforces: no NUL characters (`rejectNulCharacters`), which no text column or provider accepts,
 * so no object it answers holds one either. Not the error body: a message may quote the input.
 */
function withoutNul<T>(doc: T): T {
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== 'object') return;
    const o = node as Record<string, unknown>;
    // `pattern` applies to strings only, so a nullable string (`type: ['string', 'null']`) takes it too.
    const text = o.type === 'string' || (Array.isArray(o.type) && o.type.includes('string'));
    if (text && o.pattern === undefined && o.enum === undefined && o.const === undefined && o.format === undefined) o.pattern = NO_NUL;
    if (o.type === 'object' && o.additionalProperties && o.propertyNames === undefined) o.propertyNames = { pattern: NO_NUL };
    for (const [k, v] of Object.entries(o)) if (!(k === 'Error' && o === schemas)) visit(v);
  };
  const schemas = (doc as { components?: { schemas?: unknown } }).components?.schemas;
  visit(doc);
  return doc;
}

let patterns: { pattern: RegExp; method: string }[] | undefined;
const routePatterns = () => (patterns ??= [...ROUTES, { method: 'get', path: '/healthz' }, { method: 'get', path: '/readyz' }]
  .map((r) => ({ pattern: new RegExp(`^${r.path.replace(/\{\w+\}/g, '[^/]+')}/?$`), method: r.method.toUpperCase() })));

/** The methods the document lists for a path (`/v1/payments/pay_1` → GET, POST…), or undefined for a path it does not know. */
export function documentedMethods(path: string): string[] | undefined {
  const methods = new Set<string>();
  for (const r of routePatterns()) if (r.pattern.test(path)) methods.add(r.method);
  if (methods.size === 0) return undefined;
  if (methods.has('GET')) methods.add('HEAD');
  return [...methods];
}
