import type { ChildProcess } from 'node:child_process';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { freeLowPort } from './ports';
import { TOOLS_DIR, findTool, goEnv, goInstall, resolveTemporalExecutable } from './temporal-cli';

/**
 * The real Temporal server (the compose file's topology without Docker): the server binary and
 * temporal-sql-tool built from go.temporal.io/server (no `replace` directives at this tag), its
 * PostgreSQL schemas from the same module, the UI from temporalio/ui-server. Schema setup and the
 * namespace go through deploy/temporal-schema.sh and deploy/temporal-namespace.sh: the files the
 * compose jobs run.
 */
export const TEMPORAL_SERVER_VERSION = 'v1.29.1';
export const TEMPORAL_UI_VERSION = 'v2.42.1';
const SERVER_MODULE = 'go.temporal.io/server';
const DEPLOY_DIR = path.resolve(__dirname, '..', 'deploy');
export const SCHEMA_DIR = path.join(TOOLS_DIR, `temporal-schema-${TEMPORAL_SERVER_VERSION}`, 'postgresql', 'v12');
const run = promisify(execFile);

export type ServerTools = { server: string; sqlTool: string; schemaDir: string; cli: string; ui: string | undefined };

/** Builds what is missing (once, minutes) and answers where everything is. Throws, with Go's error above it on stderr, when a build fails. */
export function installTemporalServer(log: (msg: string) => void = console.log): ServerTools {
  const build = (module: string, version: string, binary: string, as: string, required = true) => {
    const found = findTool(as) ?? goInstall(module, version, binary, log, as);
    if (!found && required) throw new Error(`Could not build ${as} (${module}@${version}): Go's output is above; is Go 1.24+ installed and the module proxy reachable?`);
    return found;
  };
  const server = build(`${SERVER_MODULE}/cmd/server`, TEMPORAL_SERVER_VERSION, 'server', 'temporal-server')!;
  const sqlTool = build(`${SERVER_MODULE}/cmd/tools/sql`, TEMPORAL_SERVER_VERSION, 'sql', 'temporal-sql-tool')!;
  if (!existsSync(SCHEMA_DIR)) {
    // The schemas ship in the server module, which the builds above put in Go's module cache.
    const fromModule = path.join(goEnv('GOMODCACHE') ?? '', `${SERVER_MODULE}@${TEMPORAL_SERVER_VERSION}`, 'schema', 'postgresql', 'v12');
    if (!existsSync(fromModule)) throw new Error(`The Temporal PostgreSQL schemas are not at ${fromModule}`);
    cpSync(fromModule, SCHEMA_DIR, { recursive: true });
  }
  const cli = resolveTemporalExecutable({ log });
  if (cli.type !== 'existing-path') throw new Error('The Temporal CLI is needed to register the namespace: npm run temporal:install');
  // The UI is a convenience: without it the server still serves the tests and the bench.
  const ui = build('github.com/temporalio/ui-server/v2/cmd/server', TEMPORAL_UI_VERSION, 'server', 'temporal-ui-server', false);
  return { server, sqlTool, schemaDir: SCHEMA_DIR, cli: cli.path, ui };
}

export type TemporalServer = { address: string; namespace: string; uiUrl: string | undefined; pids: () => number[]; stop: () => Promise<void> };

export type TemporalServerOptions = {
  /** Config, logs and the password file live here. */
  dir: string;
  /** A PostgreSQL superuser's URL: it makes Temporal's role and databases (as the compose file's init does). */
  adminUrl: string;
  /** Databases `<databasePrefix>` and `<databasePrefix>_visibility`: one pair per shard count (fixed when a cluster is created). */
  databasePrefix?: string;
  numHistoryShards?: number;
  namespace?: string;
  port?: number;
  uiPort?: number;
  codecEndpoint?: string;
  retention?: string;
  log?: (msg: string) => void;
};

/** Makes the role and databases, applies the schemas, starts the server (and UI) and registers the namespace. */
export async function startTemporalServer(opts: TemporalServerOptions): Promise<TemporalServer> {
  const log = opts.log ?? (() => {});
  const tools = installTemporalServer(log);
  const dir = path.resolve(opts.dir);
  mkdirSync(dir, { recursive: true });
  const shards = opts.numHistoryShards ?? 4;
  const prefix = opts.databasePrefix ?? 'temporal';
  const namespace = opts.namespace ?? 'default';
  const db = await temporalRole(opts.adminUrl, dir, [prefix, `${prefix}_visibility`]);

  // The tools the deploy scripts call by name: temporal-sql-tool and temporal.
  const toolPath = [...new Set([path.dirname(tools.sqlTool), path.dirname(tools.cli)])].join(path.delimiter);
  const scriptEnv = { ...process.env, PATH: `${toolPath}${path.delimiter}${process.env.PATH ?? ''}` };
  await runScript('temporal-schema.sh', {
    ...scriptEnv, SQL_HOST: db.host, SQL_PORT: String(db.port), SQL_USER: db.user, SQL_PASSWORD: db.password, SKIP_DB_CREATE: 'true',
    SCHEMA_DIR: tools.schemaDir, DBNAME: prefix, VISIBILITY_DBNAME: `${prefix}_visibility`,
  }, log);

  const port = opts.port ?? (await freeLowPort());
  const taken = [port, ...(opts.uiPort ? [opts.uiPort] : [])];
  const next = async () => {
    const p = await freeLowPort(taken);
    taken.push(p);
    return p;
  };
  const ports = {
    frontendHttp: await next(), frontendMembership: await next(), history: await next(), historyMembership: await next(),
    matching: await next(), matchingMembership: await next(), worker: await next(), workerMembership: await next(),
  };
  const serverRoot = path.join(dir, 'server');
  mkdirSync(path.join(serverRoot, 'config'), { recursive: true });
  const sql = (database: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12', databaseName: database, connectAddr: `${db.host}:${db.port}`, connectProtocol: 'tcp',
      user: db.user, password: db.password, maxConns, maxIdleConns: maxConns, maxConnLifetime: '1h',
    },
  });
  const service = (grpcPort: number, membershipPort: number, extra: object = {}) => ({ rpc: { grpcPort, membershipPort, bindOnLocalHost: true, ...extra } });
  // JSON is YAML: the server's loader reads it as it is.
  const config = {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'default', visibilityStore: 'visibility', numHistoryShards: shards,
      datastores: { default: sql(prefix, 20), visibility: sql(`${prefix}_visibility`, 10) },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' } },
    services: {
      frontend: service(port, ports.frontendMembership, { httpPort: ports.frontendHttp }),
      history: service(ports.history, ports.historyMembership),
      matching: service(ports.matching, ports.matchingMembership),
      worker: service(ports.worker, ports.workerMembership),
    },
    clusterMetadata: {
      enableGlobalNamespace: false, failoverVersionIncrement: 10, masterClusterName: 'active', currentClusterName: 'active',
      clusterInformation: { active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: `127.0.0.1:${port}` } },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    // The compose file's dynamic config, so both run with the same switches.
    dynamicConfigClient: { filepath: path.join(DEPLOY_DIR, 'temporal-dynamicconfig.yaml'), pollInterval: '10s' },
  };
  writeFileSync(path.join(serverRoot, 'config', 'development.yaml'), JSON.stringify(config, null, 2), { mode: 0o600 });

  const logFile = path.join(dir, 'temporal-server.log');
  const server = spawnLogged(tools.server, ['--root', serverRoot, '--config', 'config', '--env', 'development', '--allow-no-auth', 'start'], logFile);
  const address = `127.0.0.1:${port}`;
  let ui: ChildProcess | undefined;
  const stop = async () => {
    await Promise.all([stopProcess(ui), stopProcess(server)]);
  };
  try {
    await Promise.race([
      runScript('temporal-namespace.sh', {
        ...scriptEnv, TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: namespace, TEMPORAL_RETENTION: opts.retention ?? '720h',
        // The frontend here reads search attributes through on every call (dynamic config): no cache to wait for.
        SKIP_CACHE_WAIT: 'true',
      }, log),
      exited(server).then((code) => {
        throw new Error(`The Temporal server exited (${code}) while starting; its log, ${logFile}, ends:\n${tail(logFile)}`);
      }),
    ]);
    let uiUrl: string | undefined;
    if (tools.ui && opts.uiPort) {
      const uiRoot = path.join(dir, 'ui');
      mkdirSync(path.join(uiRoot, 'config'), { recursive: true });
      writeFileSync(path.join(uiRoot, 'config', 'development.yaml'), JSON.stringify({
        temporalGrpcAddress: address, host: '127.0.0.1', port: opts.uiPort, enableUi: true, defaultNamespace: namespace,
        cors: { cookieInsecure: true, allowOrigins: [`http://127.0.0.1:${opts.uiPort}`, `http://localhost:${opts.uiPort}`] },
        ...(opts.codecEndpoint ? { codec: { endpoint: opts.codecEndpoint } } : {}),
      }, null, 2));
      ui = spawnLogged(tools.ui, ['--root', uiRoot, '--config', 'config', '--env', 'development', 'start'], path.join(dir, 'temporal-ui.log'));
      uiUrl = `http://127.0.0.1:${opts.uiPort}`;
    }
    return { address, namespace, uiUrl, pids: () => [server.pid, ui?.pid].filter((p): p is number => p !== undefined), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Temporal's own role, owner of its databases and nothing else (the app connects as another):
 * made with the superuser's URL, its password generated once and kept under `dir`.
 */
async function temporalRole(adminUrl: string, dir: string, databases: string[]) {
  const url = new URL(adminUrl);
  const passwordFile = path.join(dir, 'temporal-db-password');
  if (!existsSync(passwordFile)) writeFileSync(passwordFile, randomBytes(24).toString('hex'), { mode: 0o600 });
  const password = readFileSync(passwordFile, 'utf8').trim();
  const user = 'temporal';
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const role = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [user]);
    // A literal: CREATE ROLE takes no parameters. The password is ours (hex), never user input.
    await admin.query(`${role.rowCount ? 'ALTER' : 'CREATE'} ROLE ${user} LOGIN PASSWORD '${password}'`);
    for (const name of databases) {
      const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (!exists.rowCount) await admin.query(`CREATE DATABASE "${name}" OWNER ${user}`);
    }
  } finally {
    await admin.end();
  }
  return { host: url.hostname, port: Number(url.port || 5432), user, password };
}

async function runScript(name: string, env: NodeJS.ProcessEnv, log: (msg: string) => void): Promise<void> {
  try {
    const { stdout } = await run('sh', [path.join(DEPLOY_DIR, name)], { env, maxBuffer: 16 * 1024 * 1024 });
    for (const line of stdout.trim().split('\n')) if (line) log(line);
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`deploy/${name} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`, { cause: err });
  }
}

function spawnLogged(file: string, args: string[], logFile: string): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    return spawn(file, args, { stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
}

const exited = (proc: ChildProcess) =>
  new Promise<number | null>((resolve) => (proc.exitCode !== null ? resolve(proc.exitCode) : proc.once('exit', (code) => resolve(code))));

async function stopProcess(proc: ChildProcess | undefined): Promise<void> {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const done = exited(proc);
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  await done;
  clearTimeout(timer);
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).map((l) => l.slice(0, 400)).join('\n');
  } catch {
    return '(no log)';
  }
}
