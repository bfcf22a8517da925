import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';

const ENCODING = 'binary/encrypted';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export type PayloadKey = { id: string; key: Buffer };

/** AES-256-GCM as `iv | ciphertext | tag`: one format for payloads and for secrets at rest. */
export function aesGcmSeal(key: Buffer, plain: Uint8Array): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  return Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
}

export function aesGcmOpen(key: Buffer, sealed: Buffer): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
}

/**
 * `PAYLOAD_ENCRYPTION_KEYS`: comma-separated `id:base64key` (32-byte AES keys). The first one
 * encrypts; all of them decrypt, so a new key is rolled out by putting it first and the old
 * ones stay until no open history needs them.
 */
export function parsePayloadKeys(spec: string): PayloadKey[] {
  const keys = spec.split(',').map((part) => part.trim()).filter(Boolean).map((part) => {
    const [id, encoded] = part.split(':', 2);
    const key = Buffer.from(encoded ?? '', 'base64');
    if (!id || !/^[\w.-]{1,64}$/.test(id) || key.length !== 32) throw new Error(`invalid payload key "${id ?? ''}": expected id:base64 of 32 bytes`);
    return { id, key };
  });
  if (keys.length === 0) throw new Error('no payload key given');
  return keys;
}

/** Module of the failure converter every client, worker and workflow bundle must share. */
export const FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

/** The data converter of every client and worker: encrypted payloads, encoded failure messages. */
export const encryptedDataConverter = (codec: PayloadCodec) => ({ payloadCodecs: [codec], failureConverterPath: FAILURE_CONVERTER_PATH });

export const newPayloadKeySpec = (id = `k${Date.now()}`) => `${id}:${randomBytes(32).toString('base64')}`;

/**
 * AES-256-GCM over each whole payload (metadata and data), so the Temporal server stores only
 * ciphertext: amounts, tokens and customer data never sit there in plain text.
 */
export class EncryptionCodec implements PayloadCodec {
  private readonly byId: Map<string, Buffer>;
  constructor(private readonly keys: PayloadKey[]) {
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const { id, key } = this.keys[0]!;
    return payloads.map((payload) => {
      const sealed = aesGcmSeal(key, temporal.api.common.v1.Payload.encode(payload).finish());
      return { metadata: { encoding: Buffer.from(ENCODING), 'encryption-key-id': Buffer.from(id) }, data: sealed };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (Buffer.from(payload.metadata?.encoding ?? []).toString() !== ENCODING) return payload;
      const keyId = Buffer.from(payload.metadata?.['encryption-key-id'] ?? []).toString();
      const key = this.byId.get(keyId);
      if (!key) throw new Error(`payload encrypted with unknown key "${keyId}"`);
      return temporal.api.common.v1.Payload.decode(aesGcmOpen(key, Buffer.from(payload.data ?? []))) as Payload;
    });
  }
}
