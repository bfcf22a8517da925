import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { PayloadKey } from './codec';

/**
 * Seals secrets the orchestrator must read back (webhook signing secrets) with the payload
 * keys: AES-256-GCM, the newest key seals, any configured key opens, so key rotation works
 * as for Temporal payloads. The database holds `keyId:base64(iv | ciphertext | tag)` only.
 */
export class SecretBox {
  private readonly byId: Map<string, Buffer>;
  constructor(private readonly keys: readonly PayloadKey[]) {
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  seal(secret: string): string {
    const { id, key } = this.keys[0]!;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const sealed = Buffer.concat([iv, cipher.update(secret, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${id}:${sealed.toString('base64')}`;
  }

  open(sealed: string): string {
    const at = sealed.lastIndexOf(':');
    const key = this.byId.get(sealed.slice(0, at));
    if (at < 0 || !key) throw new Error(`secret sealed with unknown key "${sealed.slice(0, Math.max(at, 0))}"`);
    const raw = Buffer.from(sealed.slice(at + 1), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
  }
}
