import { Router } from 'express';
import { findQuote } from '../../db/fx';
import { found, unavailable } from '../../domain/errors';
import { newId } from '../../domain/ids';
import type { ApiContext } from '../context';
import { idempotencyScope, requireMerchant, requireTenant } from '../middleware/auth';
import { parse } from '../middleware/errors';
import { idempotent } from '../middleware/idempotency';
import { CreateFxQuoteBody } from '../schemas/fx';

/** Reference rates and the merchant's quotes (a rate locked for FX_QUOTE_TTL_SECONDS). */
export function fxRouter(ctx: ApiContext): Router {
  const router = Router();
  const { pool, fx } = ctx;

  router.get('/rates', async (req, res) => {
    requireTenant(req);
    const table = await fx.table();
    if (!table) throw unavailable('No exchange rates have been fetched yet; retry shortly.');
    res.json({ object: 'fx_rates', base: 'EUR', source: table.source, as_of: table.asOf, fetched_at: table.fetchedAt, stale: fx.stale(table), rates: table.rates });
  });

  router.post('/quotes', async (req, res) => {
    const tenant = requireTenant(req);
    const body = parse(CreateFxQuoteBody, req.body);
    const merchant = requireMerchant(req);
    const outcome = await idempotent(pool, req, {
      scope: idempotencyScope(tenant),
      resourceType: 'fx_quote',
      allocate: () => newId('fxq'),
      replay: async (id, status) => ({ status, body: found(await findQuote(pool, tenant, id), 'fx_quote', id) }),
      run: async (id) => ({ status: 201, body: await fx.quote(tenant, merchant.fx_margin_bps, { id, from: body.from, to: body.to, amount: body.amount }) }),
    });
    res.status(outcome.status).json(outcome.body);
  });

  router.get('/quotes/:id', async (req, res) => {
    const tenant = requireTenant(req);
    const id = String(req.params.id);
    res.json(found(await findQuote(pool, tenant, id), 'fx_quote', id));
  });
  return router;
}
