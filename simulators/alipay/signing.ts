import { createSign, createVerify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

export { loadPrivateKey, loadPublicKey } from '../../providers/alipay/alipay.keys';

export { generateKeyPair } from '../keys';

/** The base64 body of a PEM on one line: what `.env` files and Alipay's console carry. */
export function pemBody(pem: string): string {
  return pem.replace(/-----(BEGIN|END)[^-]*-----/g, '').replace(/\s+/g, '');
}

/**
 * Alipay's string to sign: parameters sorted by key, empty values dropped, `key=value` joined
 * with `&`, values exactly as decoded (never re-encoded). Requests exclude `sign` only;
 * notifications and return parameters also exclude `sign_type`.
 */
export function signingString(params: Record<string, string>, exclude: readonly string[]): string {
  return Object.keys(params)
    .filter((k) => !exclude.includes(k) && params[k] !== undefined && params[k] !== '')
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&');
}

export function rsa2Sign(content: string, key: KeyObject): string {
  return createSign('RSA-SHA256').update(content, 'utf8').sign(key, 'base64');
}

export function rsa2Verify(content: string, signature: string, key: KeyObject): boolean {
  try {
    return createVerify('RSA-SHA256').update(content, 'utf8').verify(key, signature, 'base64');
  } catch {
    return false;
  }
}

/**
 * JSON as Alipay's gateway writes it, with `/` escaped as `\/` ("https:\/\/qr.alipay.com\/…").
 * A client that verifies a re-serialisation instead of the raw text fails here as it would
 * against Alipay.
 */
export function alipayJson(value: unknown): string {
  return JSON.stringify(value).replaceAll('/', '\\/');
}

/**
 * `{"<method>_response":INNER,"sign":"…"}` with the signature over exactly the INNER text. Built
 * by hand because the client extracts INNER from the raw body by position, not by parsing.
 */
export function signedEnvelope(responseKey: string, inner: Record<string, unknown>, key: KeyObject): string {
  const innerText = alipayJson(inner);
  return `{"${responseKey}":${innerText},"sign":"${rsa2Sign(innerText, key)}"}`;
}
