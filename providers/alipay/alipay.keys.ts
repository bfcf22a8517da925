import { createPrivateKey, createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

/** An RSA private key as PEM (PKCS#1 or PKCS#8), or the bare base64 body Alipay's key tool prints (PKCS#8, then PKCS#1). */
export function loadPrivateKey(key: string): KeyObject {
  if (key.includes('-----BEGIN')) return createPrivateKey(key);
  const der = Buffer.from(key.replace(/\s+/g, ''), 'base64');
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs1' });
  }
}

/** An RSA public key as PEM, or the bare base64 SPKI body. */
export function loadPublicKey(key: string): KeyObject {
  if (key.includes('-----BEGIN')) return createPublicKey(key);
  return createPublicKey({ key: Buffer.from(key.replace(/\s+/g, ''), 'base64'), format: 'der', type: 'spki' });
}
