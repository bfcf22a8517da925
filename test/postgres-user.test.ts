import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { unreachableByPostgresUser } from '../scripts/postgres-user';
import { newTestDir } from './support/infra';

// As root (CI, containers), PostgreSQL runs as the `postgres` user: a data folder it cannot reach
// is named with its fix before anything starts, never an unhandled `spawn … EACCES`.
test('a folder above the cluster the postgres user cannot enter is named, with the fix', () => {
  const base = newTestDir();
  const privateDir = path.join(base, 'private');
  mkdirSync(privateDir, { mode: 0o700 });
  chmodSync(privateDir, 0o700);
  const cluster = path.join(privateDir, 'data', 'postgres');
  expect(unreachableByPostgresUser(cluster)).toMatch(new RegExp(`cannot enter ${privateDir}\\.\\n.*Fix: chmod o\\+x ${privateDir}`));
  chmodSync(privateDir, 0o711);
  expect(unreachableByPostgresUser(cluster)).toBeUndefined();
});

test('npm start as root in such a folder exits with that message', () => {
  const base = newTestDir();
  const privateDir = path.join(base, 'private');
  mkdirSync(privateDir, { mode: 0o700 });
  chmodSync(privateDir, 0o700);
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
    cwd: path.resolve(__dirname, '..'),
    env: { ...process.env, DATA_DIR: path.join(privateDir, 'data'), LOG_LEVEL: 'silent', PORT: '0', TEMPORAL_ADDRESS: '127.0.0.1:1' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  // The test runs as root here (CI, this machine); as another user PostgreSQL would reach it anyway.
  if (process.getuid?.() !== 0) return expect(run.status).not.toBe(0);
  expect(run.status).toBe(1);
  expect(run.stderr).toContain(`Fix: chmod o+x ${privateDir}`);
  expect(run.stderr).not.toMatch(/EACCES|at .*\.ts:\d+/);
});
