import type { RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import type { Pool } from 'pg';
import { ApiError } from '../../domain/errors';
import { bearerKey, isAdminKey, keyOwner } from './auth';

/**
 * Per-key limit (API.md: 429 rate_limit_error), one bucket per merchant and mode. Requests
 * without a valid key share their address's bucket: made-up keys get no fresh bucket each.
 */
export function perKeyRateLimit(pool: Pool, perMinute: number, adminKey: string | undefined): RequestHandler {
  return rateLimit({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    keyGenerator: async (req) => {
      const key = bearerKey(req);
      if (key && adminKey && isAdminKey(key, adminKey)) return 'admin';
      const merchant = await keyOwner(pool, req).catch(() => undefined);
      return merchant ? `key:${merchant.id}:${merchant.livemode ? 'live' : 'test'}` : `ip:${ipKeyGenerator(req.ip ?? '')}`;
    },
    handler: (_req, res) => {
      const error = new ApiError(429, 'rate_limit_error', 'rate_limit_exceeded', 'Too many requests with this API key; retry after the time in the RateLimit header.');
      res.status(429).json(error.toBody());
    },
  });
}
