import { generateKeyPairSync } from 'node:crypto';

/** RSA 2048, PEM: PKCS#8 private key and SPKI public key, the forms Alipay's and WeChat Pay's key tools produce. */
export function generateKeyPair(): { privateKey: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { privateKey, publicKey };
}
