import { createHash, timingSafeEqual } from 'node:crypto';
import type { Payload } from '@temporalio/common';
import type { RequestHandler } from 'express';
import { createRemoteJWKSet, jwtVerify } from 'jose';
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
 * Verifies an OIDC access token: signed by a key of the issuer's JWKS (fetched, cached and
 * refreshed by jose when a new `kid` appears), asymmetric algorithms only, from the issuer, for
 * the audience when one is configured, not expired (a minute of clock skew).
 */
function jwtVerifier(jwksUrl: string, issuer: string, audience: string | undefined): (token: string) => Promise<unknown> {
  const keys = createRemoteJWKSet(new URL(jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000 });
  return (token) => jwtVerify(token, keys, {
    issuer, ...(audience ? { audience } : {}), clockTolerance: 60, requiredClaims: ['exp'],
    algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'],
  });
}

/**
 * Temporal's remote codec contract (`POST /codec/encode|decode`, `{ payloads: [...] }` with
 * base64 fields), so the Web UI shows decrypted inputs and results. Only the UI's origin may
 * call it from a browser; an operator's access token (CODEC_JWKS_URL) or the shared token
 * (CODEC_AUTH_TOKEN) is required when configured.
 */
export function codecRouter(ctx: ApiContext): Router {
  const router = Router();
  const origins = codecOrigins(ctx);
  const digest = (s: string) => createHash('sha256').update(s).digest();
  const operatorToken = ctx.config.CODEC_JWKS_URL ? jwtVerifier(ctx.config.CODEC_JWKS_URL, ctx.config.CODEC_JWT_ISSUER!, ctx.config.CODEC_JWT_AUDIENCE) : undefined;

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
    const given = bearerKey(req);
    if (operatorToken) {
      if (!given) return next(new ApiError(401, 'authentication_error', 'invalid_codec_token', 'The codec needs the signed-in operator\'s access token (`Authorization: Bearer <JWT>`).'));
      return void operatorToken(given).then(() => next(), () =>
        next(new ApiError(401, 'authentication_error', 'invalid_codec_token', 'The access token is not valid for the codec (signature, issuer, audience or expiry).')));
    }
    const token = ctx.config.CODEC_AUTH_TOKEN;
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
