import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { configSchema } from '../config';

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
