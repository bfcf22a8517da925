import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import type { Pool } from 'pg';
import type { Merchant, Tenant } from '../../db/merchants';
import { findMerchantByApiKey } from '../../db/merchants';
import { ApiError } from '../../domain/errors';

declare module 'express-serve-static-core' {
  interface Request {
    merchant?: Merchant;
    /** The merchant and the mode of the key the request came with. */
    tenant?: Tenant;
  }
}

const unauthenticated = () =>
  new ApiError(401, 'authentication_error', 'invalid_api_key', 'Missing or invalid API key. Send `Authorization: Bearer <api_key>`.');

export function bearerKey(req: Request): string | undefined {
  const header = req.header('authorization');
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1];
}

const lookups = new WeakMap<Request, Promise<(Merchant & { livemode: boolean }) | undefined>>();

/** The merchant and mode of the request's key, looked up once per request (the rate limiter and auth share it). */
export function keyOwner(pool: Pool, req: Request): Promise<(Merchant & { livemode: boolean }) | undefined> {
  let lookup = lookups.get(req);
  if (!lookup) {
    const key = bearerKey(req);
    lookup = key ? findMerchantByApiKey(pool, key) : Promise.resolve(undefined);
    lookups.set(req, lookup);
  }
  return lookup;
}

/** Resolves the merchant that owns the key; every query after this is scoped to it. */
export function merchantAuth(pool: Pool): RequestHandler {
  return async (req, _res, next) => {
    try {
      const merchant = await keyOwner(pool, req);
      if (!merchant) throw unauthenticated();
      const { livemode, ...rest } = merchant;
      req.merchant = rest;
      req.tenant = { merchantId: merchant.id, livemode };
      next();
    } catch (err) {
      next(err);
    }
  };
}

/** Optional variant for the sandbox routes: a key, if given, must be valid. */
export function optionalMerchantAuth(pool: Pool): RequestHandler {
  const strict = merchantAuth(pool);
  return (req, res, next) => (bearerKey(req) ? strict(req, res, next) : next());
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Compares digests: constant time whatever the lengths. */
export const isAdminKey = (key: string, adminKey: string): boolean => timingSafeEqual(digest(key), digest(adminKey));

export function adminAuth(adminKey: string | undefined): RequestHandler {
  return (req, _res, next) => {
    const key = bearerKey(req);
    if (!adminKey || !key || !isAdminKey(key, adminKey)) return next(unauthenticated());
    next();
  };
}

export function requireMerchant(req: Request): Merchant {
  if (!req.merchant) throw unauthenticated();
  return req.merchant;
}

export function requireTenant(req: Request): Tenant {
  if (!req.tenant) throw unauthenticated();
  return req.tenant;
}

/** Idempotency keys are per merchant and mode: the same key in test and live names two requests. */
export const idempotencyScope = (t: Tenant): string => (t.livemode ? `${t.merchantId}:live` : t.merchantId);

/** Routes open to operators and merchants alike: the admin key, or a merchant's key (then scoped to it). */
export async function adminOrTenant(pool: Pool, adminKey: string | undefined, req: Request): Promise<{ admin: true } | { admin: false; tenant: Tenant }> {
  const key = bearerKey(req);
  if (key && adminKey && isAdminKey(key, adminKey)) return { admin: true };
  const owner = await keyOwner(pool, req);
  if (!owner) throw unauthenticated();
  return { admin: false, tenant: { merchantId: owner.id, livemode: owner.livemode } };
}
