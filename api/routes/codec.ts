import { createHash, timingSafeEqual } from 'node:crypto';
import type { Payload } from '@temporalio/common';
import type { RequestHandler } from 'express';
import { Router } from 'express';
import { ApiError, invalidRequest } from '../../domain/errors';
import type { ApiContext } from '../context';
import { bearerKey } from '../middleware/auth';

type JsonPayload = { metadata?: Record<string, string>; data?: string };

const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});
const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')])),
  data: Buffer.from(p.data ?? []).toString('base64'),
});

/** Origins allowed to call the codec: the configured ones, or the embedded UI's. */
export function codecOrigins(ctx: ApiContext): Set<string> {
  const configured = ctx.config.CODEC_CORS_ORIGINS?.split(',').map((o) => o.trim()).filter(Boolean);
  if (configured?.length) return new Set(configured);
  const port = ctx.config.TEMPORAL_UI_PORT;
  return new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`]);
}

/**
 * Temporal's remote codec contract (`POST /codec/encode|decode`, `{ payloads: [...] }` with
 * base64 fields), so the Web UI shows decrypted inputs and results. Only the UI's origin may
 * call it from a browser, and a token is required when CODEC_AUTH_TOKEN is set.
 */
export function codecRouter(ctx: ApiContext): Router {
  const router = Router();
  const origins = codecOrigins(ctx);
  const digest = (s: string) => createHash('sha256').update(s).digest();

  const guard: RequestHandler = (req, res, next) => {
    const origin = req.header('origin');
    if (origin !== undefined) {
      if (!origins.has(origin)) return next(new ApiError(403, 'authentication_error', 'origin_not_allowed', 'This origin may not use the codec.'));
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Vary', 'Origin');
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', 'Content-Type, Authorization, X-Namespace');
    }
    if (req.method === 'OPTIONS') return void res.status(204).end();
    const token = ctx.config.CODEC_AUTH_TOKEN;
    const given = bearerKey(req);
    if (token && (!given || !timingSafeEqual(digest(given), digest(token)))) {
      return next(new ApiError(401, 'authentication_error', 'invalid_codec_token', 'The codec needs `Authorization: Bearer <CODEC_AUTH_TOKEN>`.'));
    }
    next();
  };

  const handle = (direction: 'encode' | 'decode'): RequestHandler => async (req, res) => {
    const payloads = (req.body as { payloads?: unknown })?.payloads;
    if (!Array.isArray(payloads)) throw invalidRequest('Expected { "payloads": [...] }.', 'payloads');
    const out = await ctx.codec[direction](payloads.map((p) => fromJson(p as JsonPayload)));
    res.json({ payloads: out.map(toJson) });
  };

  router.use(guard);
  router.post('/encode', handle('encode'));
  router.post('/decode', handle('decode'));
  return router;
}
