import { rmSync } from 'node:fs';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { EmbeddedDatabase } from '../../scripts/embedded-postgres';
import { readInfra } from './infra';

export default async function globalTeardown(): Promise<void> {
  const infra = (globalThis as Record<string, unknown>).__paymentsInfra as { db: EmbeddedDatabase; env: TestWorkflowEnvironment } | undefined;
  if (!infra) return;
  const { dir } = readInfra();
  await infra.env.teardown();
  await infra.db.stop();
  rmSync(dir, { recursive: true, force: true });
}
