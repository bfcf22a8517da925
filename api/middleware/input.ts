import type { RequestHandler } from 'express';
import { invalidRequest } from '../../domain/errors';

/** The path (`metadata.note`) of the first string holding a NUL character, if any. */
function nulAt(value: unknown, at: string[] = []): string | undefined {
  if (typeof value === 'string') return value.includes('\u0000') ? at.join('.') || 'body' : undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = nulAt(value[i], [...at, String(i)]);
      if (found) return found;
    }
  }
  if (value && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      const found = key.includes('\u0000') ? [...at, key].join('.') : nulAt(v, [...at, key]);
      if (found) return found;
    }
  }
  return undefined;
}

/**
 * A POST with no body at all (no Content-Length, no Transfer-Encoding: `curl -X POST`) is left
 * undefined by the JSON parser; routes validate one shape, so it reads as `{}`.
 */
export const absentBodyAsEmpty: RequestHandler = (req, _res, next) => {
  req.body ??= {};
  next();
};

/**
 * NUL characters are valid JSON but no text column (or provider) accepts them: refused up
 * front with a 400 naming the field, rather than failing deep inside a write.
 */
export const rejectNulCharacters: RequestHandler = (req, _res, next) => {
  let path: string;
  try {
    path = decodeURIComponent(req.path);
  } catch {
    return next(invalidRequest('The request path is not valid percent-encoding.', undefined, 'invalid_path'));
  }
  if (path.includes('\u0000')) return next(invalidRequest('The request path must not contain NUL characters.', undefined, 'invalid_path'));
  // A key may hold the NUL itself: the answer names it with the character escaped.
  const param = (nulAt(req.query) ?? nulAt(req.body))?.replaceAll('\u0000', '\\u0000');
  if (param) return next(invalidRequest(`Invalid ${param}: text must not contain NUL characters.`, param === 'body' ? undefined : param));
  next();
};

/**
 * Every POST's Idempotency-Key, checked whatever the route does with it (API.md: 1 to 255
 * characters), so a request the document calls invalid is never taken.
 */
export const checkIdempotencyKey: RequestHandler = (req, _res, next) => {
  const key = req.method === 'POST' ? req.header('idempotency-key') : undefined;
  if (key !== undefined && (key.length < 1 || key.length > 255)) return next(invalidRequest('Idempotency-Key must be 1 to 255 characters.', 'Idempotency-Key'));
  next();
};
