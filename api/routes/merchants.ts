import { randomBytes } from 'node:crypto';
import { Router } from 'express';
import { findMerchantById, insertMerchant } from '../../db/merchants';
import { merchantBalances } from '../../db/ledger';
import { found } from '../../domain/errors';
import { newId } from '../../domain/ids';
import type { ApiContext } from '../context';
import { requireMerchant } from '../middleware/auth';
import { parse } from '../middleware/errors';
import { idempotent } from '../middleware/idempotency';
import { CreateMerchantBody } from '../schemas/merchants';

export const newApiKey = () => `sk_${randomBytes(24).toString('base64url')}`;

export function merchantsRouter(ctx: ApiContext): Router {
  const router = Router();
  router.post('/', async (req, res) => {
    const body = parse(CreateMerchantBody, req.body);
    const outcome = await idempotent(ctx.pool, req, {
      scope: 'admin',
      resourceType: 'merchant',
      allocate: () => newId('mer'),
      convergent: false,
      // The key is shown once: a replay returns the merchant without it.
      replay: async (id, status) => {
        return { status, body: found(await findMerchantById(ctx.pool, id), 'merchant', id) };
      },
      run: async (id) => {
        const apiKey = newApiKey();
        const merchant = await insertMerchant(ctx.pool, { id, name: body.name, settlementCurrency: body.settlement_currency ?? null, apiKey });
        return { status: 201, body: { ...merchant, api_key: apiKey } };
      },
    });
    res.status(outcome.status).json(outcome.body);
  });
  return router;
}

export function balanceRouter(ctx: ApiContext): Router {
  const router = Router();
  router.get('/', async (req, res) => {
    const merchant = requireMerchant(req);
    res.json({ object: 'balance', balances: await merchantBalances(ctx.pool, merchant.id) });
  });
  return router;
}
