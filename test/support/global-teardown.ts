import { rmSync } from 'node:fs';
import type { EmbeddedDatabase } from '../../scripts/embedded-postgres';
import { readInfra } from './infra';

export default async function globalTeardown(): Promise<void> {
  const infra = (globalThis as Record<string, unknown>).__paymentsInfra as { db: EmbeddedDatabase; temporal: { stop: () => Promise<void> } } | undefined;
  if (!infra) return;
  const { dir } = readInfra();
  await infra.temporal.stop();
  await infra.db.stop();
  rmSync(dir, { recursive: true, force: true });
}
