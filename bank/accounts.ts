import { z } from 'zod';
import type { FinancialAddress } from '../domain/payment';

const Account = z.union([
  z.object({ iban: z.string().regex(/^[A-Z]{2}\d{2}[A-Z0-9]{10,30}$/), bic: z.string().regex(/^[A-Z0-9]{8}([A-Z0-9]{3})?$/), account_holder_name: z.string().min(1), bank_name: z.string().optional() }).strict(),
  z.object({ account_number: z.string().min(4), bank_code: z.string().min(3), account_holder_name: z.string().min(1), bank_name: z.string().optional() }).strict(),
]);
/** Currency (or `*` for any other) to the account transfers in it are paid into. */
const AccountsByCurrency = z.record(z.string().regex(/^([A-Z]{3}|\*)$/), Account);

export type ReceivingAccounts = (currency: string) => FinancialAddress | undefined;

/**
 * Test mode's accounts when BANK_TEST_ACCOUNTS is unset: the standards' own example numbers,
 * named as test accounts, so no payer mistakes them for a real one.
 */
const TEST_ACCOUNTS = {
  EUR: { iban: 'DE89370400440532013000', bic: 'COBADEFFXXX', account_holder_name: 'TEST MODE - no real money', bank_name: 'Example test bank' },
  GBP: { account_number: '31926819', bank_code: '601613', account_holder_name: 'TEST MODE - no real money', bank_name: 'Example test bank' },
  USD: { account_number: '000123456789', bank_code: '110000000', account_holder_name: 'TEST MODE - no real money', bank_name: 'Example test bank' },
  '*': { iban: 'DE89370400440532013000', bic: 'COBADEFFXXX', account_holder_name: 'TEST MODE - no real money', bank_name: 'Example test bank' },
};

function toAddress(a: z.infer<typeof Account>): FinancialAddress {
  return 'iban' in a ? { type: 'iban', iban: a } : { type: 'account_number', account_number: a };
}

/** Reads BANK_ACCOUNTS / BANK_TEST_ACCOUNTS; throws a readable message when the JSON is not accounts. */
export function receivingAccounts(json: string | undefined, fallback: 'test' | 'none'): ReceivingAccounts | undefined {
  let accounts: z.infer<typeof AccountsByCurrency>;
  if (json === undefined) {
    if (fallback === 'none') return undefined;
    accounts = TEST_ACCOUNTS;
  } else {
    let raw: unknown;
    try {
      raw = JSON.parse(json);
    } catch {
      throw new Error('not JSON: { "EUR": { "iban", "bic", "account_holder_name" }, "USD": { "account_number", "bank_code", "account_holder_name" } }');
    }
    const parsed = AccountsByCurrency.safeParse(raw);
    if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    accounts = parsed.data;
  }
  return (currency) => {
    const a = accounts[currency] ?? accounts['*'];
    return a && toAddress(a);
  };
}
