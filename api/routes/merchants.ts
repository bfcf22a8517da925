import { randomBytes } from 'node:crypto';
import { Router } from 'express';
import { findMerchantById, insertMerchant } from '../../db/merchants';
import { merchantBalances } from '../../db/ledger';
import { found } from '../../domain/errors';
import { newId } from '../../domain/ids';
import type { ApiContext } from '../context';
import { requireTenant } from '../middleware/auth';
import { parse } from '../middleware/errors';
import { idempotent } from '../middleware/idempotency';
import { CreateMerchantBody } from '../schemas/merchants';

/** Keys say their mode, as Stripe's do: `sk_test_…` acts on test objects only, `sk_live_…` on live ones. */
export const newApiKey = (livemode = false) => `sk_${livemode ? 'live' : 'test'}_${randomBytes(24).toString('base64url')}`;

export function merchantsRouter(ctx: ApiContext): Router {
  const router = Router();
  router.post('/', async (req, res) => {
    const body = parse(CreateMerchantBody, req.body);
    const outcome = await idempotent(ctx.pool, req, {
      scope: 'admin',
      resourceType: 'merchant',
      allocate: () => newId('mer'),
      // The key is shown once: a replay returns the merchant without it.
      replay: async (id, status) => {
        return { status, body: found(await findMerchantById(ctx.pool, id), 'merchant', id) };
      },
      run: async (id) => {
        const apiKey = newApiKey(false);
        const liveApiKey = newApiKey(true);
        const merchant = await insertMerchant(ctx.pool, { id, name: body.name, settlementCurrency: body.settlement_currency ?? null, fxMarginBps: body.fx_margin_bps ?? ctx.config.FX_DEFAULT_MARGIN_BPS, apiKey, liveApiKey });
        return { status: 201, body: { ...merchant, api_key: apiKey, live_api_key: liveApiKey } };
      },
    });
    res.status(outcome.status).json(outcome.body);
  });
  return router;
}

export function balanceRouter(ctx: ApiContext): Router {
  const router = Router();
  router.get('/', async (req, res) => {
    const tenant = requireTenant(req);
    res.json({ object: 'balance', livemode: tenant.livemode, balances: await merchantBalances(ctx.pool, tenant) });
  });
  return router;
}
