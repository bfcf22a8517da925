import type { PayloadKey } from './codec';
import { aesGcmOpen, aesGcmSeal } from './codec';

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
    return `${id}:${aesGcmSeal(key, Buffer.from(secret, 'utf8')).toString('base64')}`;
  }

  open(sealed: string): string {
    const at = sealed.lastIndexOf(':');
    const key = this.byId.get(sealed.slice(0, at));
    if (at < 0 || !key) throw new Error(`secret sealed with unknown key "${sealed.slice(0, Math.max(at, 0))}"`);
    return aesGcmOpen(key, Buffer.from(sealed.slice(at + 1), 'base64')).toString('utf8');
  }
}
