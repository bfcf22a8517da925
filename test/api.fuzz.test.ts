import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { newMerchant, useTestStack } from './support/stack';

const ARTIFACTS = path.resolve(__dirname, '..', 'test-artifacts');
const stack = useTestStack({ RATE_LIMIT_PER_MINUTE: '1000000' });

/** schemathesis from `.tools/venv` (`.ci/run` installs it), SCHEMATHESIS, or PATH. */
const VENV_SCHEMATHESIS = path.resolve(__dirname, '..', '.tools', 'venv', 'bin', 'schemathesis');
const SCHEMATHESIS = process.env.SCHEMATHESIS ?? (existsSync(VENV_SCHEMATHESIS) ? VENV_SCHEMATHESIS : 'schemathesis');

test('schemathesis fuzzes every operation of /openapi.json with a real key and every check: no 5xx, answers match the schema, valid input accepted, invalid refused', async () => {
  const m = await newMerchant(stack());
  const args = [
    'run', `${stack().url}/openapi.json`,
    '--header', `Authorization: Bearer ${m.key}`,
    '--checks', process.env.FUZZ_CHECKS ?? 'all',
    // The stateful phase limits response time (10 s by default): no tighter than the request timeout,
    // since speed is measured in bench/, never asserted in tests.
    '--max-response-time', '30',
    '--max-examples', process.env.FUZZ_MAX_EXAMPLES ?? '10',
    '--seed', process.env.FUZZ_SEED ?? '20261125',
    '--workers', '1',
    '--request-timeout', '30',
    '--max-time', process.env.FUZZ_MAX_TIME ?? '180',
    '--no-color',
  ];
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    // The hooks accept a 400 for schema-valid input only where the document names its code (`x-rules`).
    const proc = spawn(SCHEMATHESIS, args, { env: { ...process.env, PYTHONUNBUFFERED: '1', SCHEMATHESIS_HOOKS: path.join(__dirname, 'fuzz', 'hooks.py') } });
    let out = '';
    proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (out += c.toString()));
    proc.on('error', reject);
    proc.on('close', (exit) => resolve({ code: exit, output: out }));
  });
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(path.join(ARTIFACTS, 'schemathesis.txt'), output);
  if (code !== 0) console.log(output.slice(-20_000));
  expect(code).toBe(0);
  expect(output).toMatch(/passed/i);
}, 400_000);
