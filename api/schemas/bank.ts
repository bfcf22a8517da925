import { BANK_CREDIT_STATUSES, FUNDS_POLICIES } from '../../domain/bank';
import { Amount, Currency, Day, ListQuery, Timestamp, listOf, z, text } from './common';

/** The bank's id of a credit: printable, as banks write them. */
const BankId = text(100, 1).regex(/^[\x21-\x7e]+$/, { error: 'printable ASCII without spaces' });

export const PayerSchema = z
  .object({
    name: text(140).nullable().default(null),
    account: text(64).regex(/^[A-Za-z0-9 -]+$/, { error: 'letters, digits, spaces and hyphens' }).nullable().default(null),
    bank_code: text(35).nullable().default(null),
  })
  .strict()
  .openapi('BankPayer');

/** An incoming credit as a bank's feed describes it (amounts in minor units). */
export const IncomingCreditBody = z
  .object({
    credit_id: BankId.optional().openapi({ description: "The bank's id of the credit; a credit sent twice with it counts once. Generated when absent." }),
    amount: Amount,
    currency: Currency,
    reference: text(140).nullable().optional().openapi({ description: 'Free text as the payer wrote it; the instructions\' reference is found in it.' }),
    value_date: Day.optional(),
    payer: PayerSchema.optional(),
  })
  .strict()
  .openapi('IncomingBankTransfer');

export const BankCreditObject = z
  .object({
    id: z.string(), object: z.literal('bank_credit'), livemode: z.boolean(), credit_id: z.string(), source: z.enum(['test_helper', 'webhook', 'statement', 'sandbox']),
    value_date: z.string(), amount: z.number().int(), currency: z.string(), reference: z.string().nullable(), payer: PayerSchema,
    status: z.enum(BANK_CREDIT_STATUSES), matched_by: z.enum(['reference', 'reference_corrected', 'customer_amount', 'manual']).nullable(),
    payment_id: z.string().nullable(), customer_id: z.string().nullable(), amount_applied: z.number().int(), amount_excess: z.number().int(),
    excess_to: z.enum(['customer_balance', 'returned']).nullable(), created_at: Timestamp, updated_at: Timestamp,
  })
  .openapi('BankCredit');
export const BankCreditList = listOf(BankCreditObject, 'BankCreditList');
export const BankCreditListQuery = ListQuery.extend({ status: z.enum(BANK_CREDIT_STATUSES).optional() }).strict();
export const AdminBankCreditQuery = z.object({ status: z.enum(BANK_CREDIT_STATUSES).optional(), livemode: z.enum(['true', 'false']).default('true'), limit: ListQuery.shape.limit }).strict();

export const ApplyBankCreditBody = z.object({ payment_id: text(100, 1) }).strict().openapi('ApplyBankCredit');
export const AdminApplyBankCreditBody = ApplyBankCreditBody.extend({ reason: text(500, 1) }).strict().openapi('AdminApplyBankCredit');

export const BankPayoutObject = z
  .object({
    id: z.string(), object: z.literal('bank_payout'), livemode: z.boolean(), kind: z.enum(['refund', 'return']), payment_id: z.string().nullable(),
    refund_id: z.string().nullable(), credit_id: z.string().nullable(), amount: z.number().int(), currency: z.string(), payee: PayerSchema, reason: z.string(),
    status: z.enum(['pending', 'paid']), created_at: Timestamp, paid_at: Timestamp.nullable(),
  })
  .openapi('BankPayout');
export const BankPayoutList = listOf(BankPayoutObject, 'BankPayoutList');
export const BankPayoutListQuery = ListQuery.extend({ status: z.enum(['pending', 'paid']).optional() }).strict();

export const BankTransferSettingsBody = z
  .object({
    expires_after_seconds: z.number().int().min(1).max(90 * 24 * 3600).optional().openapi({ description: 'How long instructions stay valid (default 7 days).' }),
    underpaid: z.enum(FUNDS_POLICIES).optional().openapi({ description: 'What happens to money received for a transfer that expires (or closes) unfunded: returned to the payer (default) or kept as customer balance.' }),
    overpaid: z.enum(FUNDS_POLICIES).optional().openapi({ description: 'What happens to what exceeds the amount: kept as customer balance (default) or returned.' }),
  })
  .strict()
  .openapi('BankTransferSettingsUpdate');
export const BankTransferSettingsObject = z
  .object({ object: z.literal('bank_transfer_settings'), livemode: z.boolean(), expires_after_seconds: z.number().int(), underpaid: z.enum(FUNDS_POLICIES), overpaid: z.enum(FUNDS_POLICIES) })
  .openapi('BankTransferSettings');

export const CustomerBalanceObject = z
  .object({
    object: z.literal('customer_balance'), customer_id: z.string(), livemode: z.boolean(),
    balances: z.array(z.object({ currency: z.string(), amount: z.number().int() })).openapi({ description: 'Cash received by transfer and not used yet, per currency: later transfer payments draw on it first.' }),
    credit_balance: z.record(z.string(), z.number().int()).openapi({ description: 'Invoice credit (prorations), as on the customer.' }),
  })
  .openapi('CustomerBalance');

/** The bank's (or aggregator's) credit feed: signed with BANK_WEBHOOK_SECRET. */
export const BankWebhookBody = z
  .object({
    type: z.literal('credit.received'),
    livemode: z.boolean().default(true),
    data: IncomingCreditBody.extend({ credit_id: BankId, value_date: Day }).strict(),
  })
  .strict();

export const StatementImportQuery = z.object({ livemode: z.enum(['true', 'false']).optional() }).strict();
export const StatementImportObject = z
  .object({
    object: z.literal('bank_statement_import'), livemode: z.boolean(), format: z.enum(['camt.053', 'csv']),
    credits: z.array(z.object({ id: z.string(), credit_id: z.string(), status: z.enum(BANK_CREDIT_STATUSES), duplicate: z.boolean() })),
    payouts_confirmed: z.array(z.string()),
    debits_unknown: z.array(z.string()).openapi({ description: 'Debit lines that name no pending payout.' }),
  })
  .openapi('BankStatementImport');
