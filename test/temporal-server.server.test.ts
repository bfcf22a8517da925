import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { Client } from 'pg';
import { SCHEMA_DIR } from '../scripts/temporal-server';
import { PAYMENT_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import { readInfra } from './support/infra';

// The real-server slice's own topology, set up by global setup through the deploy scripts the
// compose jobs run: the schemas at the module's latest version, owned by Temporal's role, the
// namespace's 30-day retention and our search attributes, 4 history shards.
const infra = readInfra();
const onDatabase = async <T>(database: string, query: (c: Client) => Promise<T>): Promise<T> => {
  const url = new URL(infra.databaseUrl);
  url.pathname = `/${database}`;
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return await query(client);
  } finally {
    await client.end();
  }
};
/** The highest vX.Y under the schema's versioned folder. */
const latest = (schema: string) =>
  readdirSync(path.join(SCHEMA_DIR, schema, 'versioned')).map((v) => v.slice(1)).sort((a, b) => {
    const [x, y] = [a.split('.').map(Number), b.split('.').map(Number)];
    return x[0]! - y[0]! || x[1]! - y[1]!;
  }).pop();
const versions = async () => ({
  temporal: await onDatabase('temporal', async (c) => (await c.query('SELECT curr_version FROM schema_version')).rows[0].curr_version),
  visibility: await onDatabase('temporal_visibility', async (c) => (await c.query('SELECT curr_version FROM schema_version')).rows[0].curr_version),
});

test('the schema job left both databases at the module\'s latest version, owned by the temporal role, and re-running it changes nothing', async () => {
  expect(await versions()).toEqual({ temporal: latest('temporal'), visibility: latest('visibility') });
  const owners = await onDatabase('postgres', async (c) =>
    (await c.query(`SELECT datname, pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname LIKE 'temporal%' ORDER BY 1`)).rows);
  expect(owners).toEqual([{ datname: 'temporal', owner: 'temporal' }, { datname: 'temporal_visibility', owner: 'temporal' }]);
  const url = new URL(infra.databaseUrl);
  const tools = path.resolve(__dirname, '..', '.tools');
  execFileSync('sh', [path.resolve(__dirname, '..', 'deploy', 'temporal-schema.sh')], {
    env: {
      ...process.env, PATH: `${tools}:${process.env.PATH}`, SQL_HOST: url.hostname, SQL_PORT: url.port, SQL_USER: 'temporal',
      SQL_PASSWORD: readFileSync(path.join(infra.dir, 'temporal', 'temporal-db-password'), 'utf8').trim(), SKIP_DB_CREATE: 'true', SCHEMA_DIR,
    },
  });
  expect(await versions()).toEqual({ temporal: latest('temporal'), visibility: latest('visibility') });
});

test('the namespace keeps closed workflows 30 days, has every search attribute, and the cluster runs 4 history shards', async () => {
  const connection = await Connection.connect({ address: infra.temporalAddress });
  try {
    const client = new TemporalClient({ connection, namespace: infra.namespace });
    const described = await client.workflowService.describeNamespace({ namespace: infra.namespace });
    expect(Number(described.config!.workflowExecutionRetentionTtl!.seconds)).toBe(30 * 86_400);
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: infra.namespace });
    expect(Object.keys(customAttributes ?? {})).toEqual(expect.arrayContaining(PAYMENT_SEARCH_ATTRIBUTES.map((k) => k.name)));
    const cluster = await client.workflowService.getClusterInfo({});
    expect(cluster.historyShardCount).toBe(4);
  } finally {
    await connection.close();
  }
});
