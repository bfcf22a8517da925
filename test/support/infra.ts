import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Where global setup leaves the addresses of the real PostgreSQL and Temporal for test files. */

export type Infra = { databaseUrl: string; temporalAddress: string; namespace: string; workflowBundlePath: string; dir: string };

export const writeInfra = (infra: Infra) => writeFileSync(process.env.PAYMENTS_TEST_INFRA!, JSON.stringify(infra));
export const readInfra = (): Infra => JSON.parse(readFileSync(process.env.PAYMENTS_TEST_INFRA!, 'utf8'));
/** A fresh folder; traversable by others because, as root, PostgreSQL runs as its own system user. */
export function newTestDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'payments-test-'));
  chmodSync(dir, 0o755);
  return dir;
}
