import { createHash } from 'node:crypto';
import type { RequestHandler } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { ApiError } from '../../domain/errors';
import { bearerKey } from './auth';

/** Per-key limit (API.md: 429 rate_limit_error); requests without a key are limited per address. */
export function perKeyRateLimit(perMinute: number): RequestHandler {
  return rateLimit({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    keyGenerator: (req) => {
      const key = bearerKey(req);
      return key ? `key:${createHash('sha256').update(key).digest('hex')}` : `ip:${ipKeyGenerator(req.ip ?? '')}`;
    },
    handler: (_req, res) => {
      const error = new ApiError(429, 'rate_limit_error', 'rate_limit_exceeded', 'Too many requests with this API key; retry after the time in the RateLimit header.');
      res.status(429).json(error.toBody());
    },
  });
}
