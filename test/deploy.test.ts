import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { configSchema } from '../config';
import { PAYMENT_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import { WORKER_IMAGE_ENV } from '../bench/worker-memory';

// What CI can check of the deployment without a container engine: the compose file against the
// Compose specification, the Dockerfile against hadolint's rules, pinned images, and the app's
// environment naming only variables the configuration knows.
const ROOT = path.resolve(__dirname, '..');
const tool = (name: string) => {
  const venv = path.join(ROOT, '.tools', 'venv', 'bin', name);
  return existsSync(venv) ? venv : name;
};
const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8' });
type Service = { image?: string; environment?: Record<string, unknown>; command?: string[]; init?: boolean; healthcheck?: { test: string[] } };
const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service>; 'x-app-env': Record<string, unknown> };

test('docker-compose.yml is valid by the Compose specification (check-jsonschema ships its schema)', () => {
  const res = run(tool('check-jsonschema'), ['--builtin-schema', 'vendor.compose-spec', 'docker-compose.yml']);
  expect(`${res.stdout}${res.stderr}`).toContain('ok -- validation done');
  expect(res.status).toBe(0);
});

test('the Dockerfile passes hadolint', () => {
  const res = run(tool('hadolint'), ['Dockerfile']);
  expect(`${res.stdout}${res.stderr}`.trim()).toBe('');
  expect(res.status).toBe(0);
});

test('every third-party image is pinned to a version, never latest', () => {
  const images = Object.values(compose.services).map((s) => s.image).filter((i): i is string => Boolean(i) && !i!.startsWith('temporal-payments:'));
  expect(images.length).toBeGreaterThan(3);
  for (const image of images) expect(image).toMatch(/^[a-z0-9./-]+:(?!latest$)[0-9][\w.-]*$/);
});

test('the app containers run node itself (SIGTERM reaches it) and name only variables the configuration knows', () => {
  for (const name of ['api', 'worker', 'migrate']) {
    expect(compose.services[name]!.command?.[0]).toBe('node');
  }
  expect(compose.services.api!.init).toBe(true);
  expect(compose.services.worker!.init).toBe(true);
  expect(compose.services.worker!.healthcheck!.test.join(' ')).toContain('/healthz');
  const known = new Set(Object.keys(configSchema.shape));
  const unknown = Object.keys(compose['x-app-env']).filter((k) => !known.has(k));
  expect(unknown).toEqual([]);
});

test('the namespace job registers exactly the search attributes the workflows set, with their types', () => {
  const script = readFileSync(path.join(ROOT, 'deploy', 'temporal-namespace.sh'), 'utf8');
  const listed = /^attrs="([^"]+)"$/m.exec(script)![1]!.split(' ').map((spec) => spec.split('='));
  const types: Record<string, string> = { KEYWORD: 'Keyword', BOOL: 'Bool', INT: 'Int', DOUBLE: 'Double', DATETIME: 'Datetime', TEXT: 'Text', KEYWORD_LIST: 'KeywordList' };
  expect(Object.fromEntries(listed)).toEqual(Object.fromEntries(PAYMENT_SEARCH_ATTRIBUTES.map((k) => [k.name, types[k.type]])));
});

test('Temporal runs on temporalio/server after a schema job, as its own database role; the app as another', () => {
  const { services } = compose as unknown as { services: Record<string, Service & { depends_on?: Record<string, { condition: string }>; entrypoint?: string[] }> };
  expect(services.temporal!.image).toMatch(/^temporalio\/server:/);
  expect(services['temporal-schema']!.entrypoint).toEqual(['sh', '/deploy/temporal-schema.sh']);
  expect(services.temporal!.depends_on!['temporal-schema']!.condition).toBe('service_completed_successfully');
  expect(services['temporal-namespace']!.entrypoint).toEqual(['sh', '/deploy/temporal-namespace.sh']);
  for (const app of ['api', 'worker']) expect(services[app]!.depends_on!['temporal-namespace']!.condition).toBe('service_completed_successfully');
  expect(services.temporal!.environment!.POSTGRES_USER).toBe('temporal');
  expect(String(compose['x-app-env'].DATABASE_URL)).toMatch(/^postgres:\/\/payments:/);
  // Nobody but the init connects as the superuser.
  expect(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8')).not.toMatch(/postgres:\/\/postgres:/);
});

test('the worker runs with the memory settings the bench measured, on the bundle the image builds', () => {
  const env = compose.services.worker!.environment!;
  for (const [k, v] of Object.entries(WORKER_IMAGE_ENV)) expect({ [k]: env[k] }).toEqual({ [k]: v });
  const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const built = /RUN node --import tsx scripts\/bundle-workflows\.ts (\S+)/.exec(dockerfile)?.[1];
  expect(built).toBeDefined();
  expect(dockerfile).toContain(`WORKFLOW_BUNDLE_PATH=${built}`);
});
