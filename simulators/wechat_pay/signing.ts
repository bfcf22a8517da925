import { createCipheriv, createPrivateKey, createPublicKey, createSign, createVerify, randomBytes, randomInt } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

/**
 * WeChat Pay API v3's cryptography, written from its documentation rather than shared with the
 * provider: the simulator judges what the client sends, and a shared helper would let one
 * mistake pass on both sides.
 */

export const AUTH_SCHEMA = 'WECHATPAY2-SHA256-RSA2048';

export { generateKeyPair } from '../keys';

export function loadPrivateKey(pem: string): KeyObject {
  return createPrivateKey(pem);
}

export function loadPublicKey(pem: string): KeyObject {
  return createPublicKey(pem);
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Letters and digits only: a nonce sits between newlines in signed messages and in header values. */
export function randomString(length: number): string {
  return Array.from({ length }, () => BASE62[randomInt(BASE62.length)]).join('');
}

/** Shaped like a certificate serial number as WeChat writes it: 40 upper-case hex digits. */
export function randomCertificateSerial(): string {
  return randomBytes(20).toString('hex').toUpperCase();
}

/** Shaped like the id of a WeChat Pay public key (public-key mode, the default for merchants since 2024). */
export function randomPublicKeyId(): string {
  return `PUB_KEY_ID_01${Array.from({ length: 30 }, () => randomInt(10)).join('')}`;
}

export type Authorization = { mchid: string; serialNo: string; timestamp: string; nonceStr: string; signature: string };

const AUTH_FIELDS = { mchid: 'mchid', serial_no: 'serialNo', timestamp: 'timestamp', nonce_str: 'nonceStr', signature: 'signature' } as const;

/**
 * `WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",timestamp="…",serial_no="…"`,
 * fields in any order; a problem (as text) when it is anything else, including a repeated field.
 */
export function parseAuthorization(header: string | undefined): Authorization | string {
  if (!header) return 'Authorization header missing';
  if (!header.startsWith(`${AUTH_SCHEMA} `)) return `Authorization schema must be ${AUTH_SCHEMA}`;
  const fields: Partial<Authorization> = {};
  for (const part of header.slice(AUTH_SCHEMA.length + 1).split(',')) {
    const match = /^\s*([a-z_]+)="([^"]*)"\s*$/.exec(part);
    // A control character in a value could split the signed message's lines differently.
    if (!match || [...(match[2] ?? '')].some((c) => c < ' ')) return `Authorization is not key="value" pairs: ${part.trim().slice(0, 40)}`;
    const name = AUTH_FIELDS[match[1] as keyof typeof AUTH_FIELDS] as keyof Authorization | undefined;
    if (!name) continue;
    if (fields[name] !== undefined) return `Authorization repeats ${match[1]}`;
    fields[name] = match[2] ?? '';
  }
  for (const [wire, name] of Object.entries(AUTH_FIELDS)) {
    if (!fields[name]) return `Authorization lacks ${wire}`;
  }
  return fields as Authorization;
}

/** What a request signs: `METHOD\nPATH?QUERY\ntimestamp\nnonce\nbody\n` (an empty body for GET). */
export function requestMessage(method: string, pathAndQuery: string, timestamp: string, nonce: string, body: string): string {
  return `${method}\n${pathAndQuery}\n${timestamp}\n${nonce}\n${body}\n`;
}

/** What an answer or a notify signs: `timestamp\nnonce\nbody\n` (an empty body for 204). */
export function answerMessage(timestamp: string, nonce: string, body: string): string {
  return `${timestamp}\n${nonce}\n${body}\n`;
}

export function rsaSign(message: string, key: KeyObject): string {
  return createSign('RSA-SHA256').update(message, 'utf8').sign(key, 'base64');
}

export function rsaVerify(message: string, signature: string, key: KeyObject): boolean {
  try {
    return createVerify('RSA-SHA256').update(message, 'utf8').verify(key, signature, 'base64');
  } catch {
    return false;
  }
}

/**
 * The headers WeChat Pay signs an answer or a notify with. `serial` names the verifying key: a
 * platform certificate serial, or `PUB_KEY_ID_…` in public-key mode.
 */
export function signedHeaders(body: string, serial: string, key: KeyObject, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
  const nonce = randomString(32);
  return {
    'Wechatpay-Nonce': nonce,
    'Wechatpay-Signature': rsaSign(answerMessage(String(timestamp), nonce, body), key),
    'Wechatpay-Timestamp': String(timestamp),
    'Wechatpay-Serial': serial,
    'Wechatpay-Signature-Type': AUTH_SCHEMA,
  };
}

export type EncryptedResource = { algorithm: 'AEAD_AES_256_GCM'; ciphertext: string; nonce: string; associated_data: string };

/**
 * AEAD_AES_256_GCM with the APIv3 key: a 12-character nonce used as the IV's bytes, the
 * associated data authenticated but not encrypted, and `ciphertext` = base64(encrypted ‖ 16-byte tag).
 */
export function encryptResource(plaintext: string, apiV3Key: string, associatedData: string): EncryptedResource {
  const nonce = randomString(12);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(apiV3Key, 'utf8'), Buffer.from(nonce, 'utf8'));
  cipher.setAAD(Buffer.from(associatedData, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]).toString('base64');
  return { algorithm: 'AEAD_AES_256_GCM', ciphertext, nonce, associated_data: associatedData };
}

/** The same ciphertext with its first byte flipped: still base64 of the same length, but the GCM tag no longer matches. */
export function tamperCiphertext(ciphertext: string): string {
  const bytes = Buffer.from(ciphertext, 'base64');
  bytes[0] = (bytes[0] ?? 0) ^ 0x01;
  return bytes.toString('base64');
}
