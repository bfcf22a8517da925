import { createHash, randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

export type IdPrefix = 'pay' | 're' | 'mer' | 'evt' | 'sk' | 'ch' | 'sbx' | 'we' | 'whsec' | 'whd' | 'opa' | 'cus' | 'pm' | 'sub' | 'in' | 'clock' | 'cbtxn' | 'fxq' | 'bcr' | 'bpo' | 'rec' | 'rci';

/** Opaque prefixed id (`pay_3xY...`), 24 random base62 characters. */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${base62(randomBytes(24))}`;
}

/**
 * An id derived from what it names (`evt_` of a payment's capture, say): recording the same
 * thing twice yields the same id, so a repeated activity cannot create a second one.
 */
export function derivedId(prefix: IdPrefix, ...parts: string[]): string {
  return `${prefix}_${base62(createHash('sha256').update(parts.join('\n')).digest().subarray(0, 24))}`;
}

const base62 = (bytes: Uint8Array): string => Array.from(bytes, (b) => ALPHABET[b % 62]).join('');
