import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

export type IdPrefix = 'pay' | 're' | 'mer' | 'evt' | 'sk' | 'ch' | 'sbx';

/** Opaque prefixed id (`pay_3xY...`), 24 random base62 characters. */
export function newId(prefix: IdPrefix): string {
  const bytes = randomBytes(24);
  let out = '';
  for (const b of bytes) out += ALPHABET[b % 62];
  return `${prefix}_${out}`;
}
