import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import { receiveCredits } from '../../bank/intake';
import type { IncomingCredit } from '../../bank/intake';
import { confirmPayout } from '../../bank/payouts';
import { parseStatement, StatementError } from '../../bank/statement';
import {
  creditRowId, findCredit, findPayoutRow, findTenantCredit, listCredits, listPayouts, listPlatformCredits, saveTransferSettings, toCredit, toPayout, transferSettings,
} from '../../db/bank';
import { findCustomer } from '../../db/billing';
import type { Tenant } from '../../db/merchants';
import { findPayment } from '../../db/payments';
import { auditOperatorAction } from './admin';
import type { BankCredit } from '../../domain/bank';
import { forbidden, found, invalidRequest, notFound } from '../../domain/errors';
import { newId } from '../../domain/ids';
import { applyBankCreditUpdate, bankCreditWorkflowId } from '../../workflows/bank-credit.workflow';
import type { ApiContext } from '../context';
import { adminOrTenant, idempotencyScope, requireTenant } from '../middleware/auth';
import { parse } from '../middleware/errors';
import { idempotent } from '../middleware/idempotency';
import {
  AdminApplyBankCreditBody, AdminBankCreditQuery, ApplyBankCreditBody, BankCreditListQuery, BankPayoutListQuery, BankTransferSettingsBody, IncomingCreditBody,
  StatementImportQuery,
} from '../schemas/bank';
import { OperatorActionBody } from '../schemas/admin';
import { pollUntil, updateWithin } from '../sync';

const today = () => new Date().toISOString().slice(0, 10);
const NO_PAYER = { name: null, account: null, bank_code: null };

/** The credit once its matching has settled (or as it stands after SYNC_WAIT_MS). */
async function settledCredit(ctx: ApiContext, id: string): Promise<BankCredit> {
  return toCredit(await pollUntil(async () => (await findCredit(ctx.pool, id))!, (row) => row.status !== 'pending', Date.now() + ctx.config.SYNC_WAIT_MS));
}

/** Applies a credit to a payment through the credit's workflow: one application, whatever retries. */
async function applyCredit(ctx: ApiContext, creditId: string, paymentId: string, opKey: string): Promise<BankCredit> {
  await updateWithin(ctx.temporal, ctx.config.SYNC_WAIT_MS, ctx.temporal.workflow.getHandle(bankCreditWorkflowId(creditId)), applyBankCreditUpdate, { args: [{ paymentId }], updateId: `apply:${opKey}` }, 'credit application');
  return toCredit((await findCredit(ctx.pool, creditId))!);
}

/** Merchant-facing bank transfer routes (mounted under /v1, after the merchant's key is checked). */
export function bankRouter(ctx: ApiContext): Router {
  const router = Router();
  const { pool, config } = ctx;

  router.post('/test_helpers/bank_transfers/incoming', async (req, res) => {
    const tenant = requireTenant(req);
    if (tenant.livemode) throw invalidRequest('Test helpers move test money only: use a test key (sk_test_…). Live credits come from the bank (POST /webhooks/bank, POST /v1/bank_statements).', undefined, 'livemode_not_allowed');
    const body = parse(IncomingCreditBody, req.body);
    const outcome = await idempotent(pool, req, {
      scope: idempotencyScope(tenant),
      resourceType: 'bank_credit',
      allocate: () => body.credit_id ?? `test_${randomUUID()}`,
      replay: async (creditId, status) => ({ status, body: toCredit(found(await findTenantCredit(pool, tenant, creditRowId(false, tenant.merchantId, creditId)), 'bank_credit', creditId)) }),
      run: async (creditId) => {
        const credit: IncomingCredit = {
          credit_id: creditId, value_date: body.value_date ?? today(), amount: body.amount, currency: body.currency, reference: body.reference ?? null, payer: body.payer ?? NO_PAYER,
        };
        const [received] = await receiveCredits(ctx.intake, [credit], { livemode: false, merchantId: tenant.merchantId, source: 'test_helper' });
        const { credit: stored, duplicate } = received!;
        // The bank's id is the credit's: the same id again is the same credit, whatever else it says.
        return { status: duplicate ? 200 : 201, body: await settledCredit(ctx, stored.id) };
      },
    });
    res.status(outcome.status).json(outcome.body);
  });

  router.get('/bank_credits', async (req, res) => {
    const q = parse(BankCreditListQuery, req.query);
    const page = await listCredits(pool, requireTenant(req), q.status, { limit: q.limit, startingAfter: q.starting_after });
    if (!page) throw notFound('bank_credit', q.starting_after!, 'starting_after');
    res.json(page);
  });

  router.get('/bank_credits/:id', async (req, res) => {
    const id = String(req.params.id);
    res.json(toCredit(found(await findTenantCredit(pool, requireTenant(req), id), 'bank_credit', id)));
  });

  router.post('/bank_credits/:id/apply', async (req, res) => {
    const tenant = requireTenant(req);
    const id = String(req.params.id);
    const { payment_id: paymentId } = parse(ApplyBankCreditBody, req.body);
    found(await findTenantCredit(pool, tenant, id), 'bank_credit', id);
    found(await findPayment(pool, tenant, paymentId), 'payment', paymentId, 'payment_id');
    const outcome = await idempotent(pool, req, {
      scope: idempotencyScope(tenant),
      resourceType: 'bank_credit',
      allocate: () => id,
      replay: async () => ({ status: 200, body: toCredit((await findCredit(pool, id))!) }),
      run: async (_id, opKey) => ({ status: 200, body: await applyCredit(ctx, id, paymentId, opKey) }),
    });
    res.status(outcome.status).json(outcome.body);
  });

  router.get('/bank_payouts', async (req, res) => {
    const q = parse(BankPayoutListQuery, req.query);
    const page = await listPayouts(pool, requireTenant(req), q.status, { limit: q.limit, startingAfter: q.starting_after });
    if (!page) throw notFound('bank_payout', q.starting_after!, 'starting_after');
    res.json(page);
  });

  const tenantPayout = async (tenant: Tenant, id: string) => {
    const row = await findPayoutRow(pool, id);
    return found(row && row.merchant_id === tenant.merchantId && row.livemode === tenant.livemode ? row : undefined, 'bank_payout', id);
  };

  router.get('/bank_payouts/:id', async (req, res) => {
    res.json(toPayout(await tenantPayout(requireTenant(req), String(req.params.id))));
  });

  // In test mode the merchant plays the bank confirming the payout; live payouts are the operator's (or the statement's).
  router.post('/test_helpers/bank_payouts/:id/confirm', async (req, res) => {
    const tenant = requireTenant(req);
    if (tenant.livemode) throw invalidRequest('Test helpers move test money only: live payouts are confirmed by an operator or by the bank statement.', undefined, 'livemode_not_allowed');
    const payout = await tenantPayout(tenant, String(req.params.id));
    res.json(await confirmPayout(pool, ctx.temporal, payout.id));
  });

  router.get('/bank_transfer_settings', async (req, res) => {
    const tenant = requireTenant(req);
    res.json({ object: 'bank_transfer_settings', livemode: tenant.livemode, ...(await transferSettings(pool, tenant, config.BANK_TRANSFER_TTL_MS)) });
  });

  router.post('/bank_transfer_settings', async (req, res) => {
    const tenant = requireTenant(req);
    const body = parse(BankTransferSettingsBody, req.body);
    const settings = { ...(await transferSettings(pool, tenant, config.BANK_TRANSFER_TTL_MS)), ...body };
    await saveTransferSettings(pool, tenant, settings);
    res.json({ object: 'bank_transfer_settings', livemode: tenant.livemode, ...settings });
  });

  router.get('/customers/:id/balance', async (req, res) => {
    const tenant = requireTenant(req);
    const id = String(req.params.id);
    const customer = found(await findCustomer(pool, tenant, id), 'customer', id);
    const { rows } = await pool.query<{ cash_balance: Record<string, number> }>('SELECT cash_balance FROM customers WHERE id = $1', [id]);
    const cash = rows[0]?.cash_balance ?? {};
    res.json({
      object: 'customer_balance', customer_id: id, livemode: tenant.livemode,
      balances: Object.keys(cash).sort().map((currency) => ({ currency, amount: Number(cash[currency]) })),
      credit_balance: customer.credit_balance,
    });
  });

  return router;
}

/**
 * A bank statement import (camt.053 or CSV, as the raw body). With a merchant's key its credits
 * are that merchant's (its own receiving account); with the admin key they are the platform's,
 * matched across merchants by reference (`?livemode=false` for a test account's statement).
 * Debit lines confirm the payouts they name.
 */
export function bankStatementsRouter(ctx: ApiContext): Router {
  const router = Router();
  router.post('/', async (req, res) => {
    const who = await adminOrTenant(ctx.pool, ctx.config.ADMIN_API_KEY, req);
    const owner = who.admin ? undefined : who.tenant;
    const q = parse(StatementImportQuery, req.query);
    if (owner && q.livemode !== undefined) throw forbidden('livemode is the key\'s own: only the admin key chooses it.', 'livemode');
    const livemode = owner ? owner.livemode : q.livemode !== 'false';
    // Live transfers are paid into the platform's accounts: only the platform's bank can say money arrived there.
    if (owner?.livemode) throw forbidden("Live statements are the platform's bank's: an operator imports them with the admin key.");
    const admin = who.admin;
    if (typeof req.body !== 'string' || req.body.trim() === '') throw invalidRequest('Send the statement as the body: camt.053 XML (application/xml) or CSV (text/csv).', undefined, 'statement_missing');
    let statement: ReturnType<typeof parseStatement>;
    try {
      statement = parseStatement(req.body, req.header('content-type'));
    } catch (err) {
      if (err instanceof StatementError) throw invalidRequest(err.line ? `Line ${err.line}: ${err.message}` : err.message, 'statement', 'statement_invalid');
      throw err;
    }
    const credits = statement.lines.filter((l) => l.direction === 'credit');
    const received = await receiveCredits(ctx.intake, credits, { livemode, merchantId: owner?.merchantId ?? null, source: 'statement' });
    const confirmed: string[] = [];
    const unknown: string[] = [];
    for (const debit of statement.lines.filter((l) => l.direction === 'debit')) {
      // A payout's id travels as the transfer's reference; it is confirmed only for the amount we sent.
      const id = debit.reference?.match(/\bbpo_[0-9A-Za-z]{24}\b/)?.[0];
      const payout = id ? await findPayoutRow(ctx.pool, id) : undefined;
      const mine = payout && payout.livemode === livemode && (admin || payout.merchant_id === owner!.merchantId) && payout.amount === debit.amount && payout.currency === debit.currency;
      if (mine) {
        await confirmPayout(ctx.pool, ctx.temporal, payout.id);
        confirmed.push(payout.id);
      } else unknown.push(debit.credit_id);
    }
    res.json({
      object: 'bank_statement_import', livemode, format: statement.format,
      credits: received.map(({ credit, duplicate }) => ({ id: credit.id, credit_id: credit.credit_id, status: credit.status, duplicate })),
      payouts_confirmed: confirmed, debits_unknown: unknown,
    });
  });
  return router;
}

/** Operator routes (admin key): the platform's unmatched credits, applying them, confirming payouts. Audited. */
export function adminBankRouter(ctx: ApiContext): Router {
  const router = Router();
  const { pool } = ctx;

  router.get('/bank_credits', async (req, res) => {
    const q = parse(AdminBankCreditQuery, req.query);
    res.json({ object: 'list', data: await listPlatformCredits(pool, q.livemode === 'true', q.status, q.limit), has_more: false });
  });

  const audit = (action: 'apply_bank_credit' | 'confirm_bank_payout', owner: Tenant, targetId: string, reason: string, outcome: string) =>
    auditOperatorAction(ctx, { id: newId('opa'), merchant_id: owner.merchantId, action, target_id: targetId, reason, outcome }, owner.livemode);

  router.post('/bank_credits/:id/apply', async (req, res) => {
    const id = String(req.params.id);
    const { payment_id: paymentId, reason } = parse(AdminApplyBankCreditBody, req.body);
    const credit = found(await findCredit(pool, id), 'bank_credit', id);
    const { rows } = await pool.query<{ merchant_id: string; livemode: boolean }>('SELECT merchant_id, livemode FROM payments WHERE id = $1', [paymentId]);
    const payment = rows[0];
    // A merchant's own feed is applied to that merchant's payments only.
    if (!payment || payment.livemode !== credit.livemode || (credit.merchant_id && credit.merchant_id !== payment.merchant_id)) throw notFound('payment', paymentId, 'payment_id');
    const outcome = await idempotent(pool, req, {
      scope: 'admin',
      resourceType: 'bank_credit',
      allocate: () => id,
      replay: async () => ({ status: 200, body: toCredit((await findCredit(pool, id))!) }),
      run: async (_id, opKey) => {
        const applied = await applyCredit(ctx, id, paymentId, opKey);
        await audit('apply_bank_credit', { merchantId: payment.merchant_id, livemode: payment.livemode }, id, reason, `applied ${applied.amount_applied} to ${paymentId}`);
        return { status: 200, body: applied };
      },
    });
    res.status(outcome.status).json(outcome.body);
  });

  router.post('/bank_payouts/:id/confirm', async (req, res) => {
    const id = String(req.params.id);
    const { reason } = parse(OperatorActionBody, req.body);
    const row = found(await findPayoutRow(pool, id), 'bank_payout', id);
    const payout = await confirmPayout(pool, ctx.temporal, row.id);
    await audit('confirm_bank_payout', { merchantId: row.merchant_id, livemode: row.livemode }, id, reason, 'paid');
    res.json(payout);
  });

  return router;
}
