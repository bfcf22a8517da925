import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ADMIN_KEY, client, newMerchant, useTestStack } from './support/stack';
import { fuzzConfig, fuzzFixtures } from './fuzz/fixtures';
import { failedWorkflowTasks, workflowTrail } from './support/trail';
import { paymentWorkflowId } from '../workflows/messages';
import { subscriptionWorkflowId } from '../workflows/billing-messages';

const ARTIFACTS = path.resolve(__dirname, '..', 'test-artifacts');
const stack = useTestStack({ RATE_LIMIT_PER_MINUTE: '1000000' });

/** schemathesis from `.tools/venv` (`.ci/run` installs it), SCHEMATHESIS, or PATH. */
const VENV_SCHEMATHESIS = path.resolve(__dirname, '..', '.tools', 'venv', 'bin', 'schemathesis');
const SCHEMATHESIS = process.env.SCHEMATHESIS ?? (existsSync(VENV_SCHEMATHESIS) ? VENV_SCHEMATHESIS : 'schemathesis');

test('schemathesis fuzzes every operation of /openapi.json with the keys it names, real objects and every check: no 5xx, answers match the schema, valid input accepted, invalid refused', async () => {
  const m = await newMerchant(stack());
  mkdirSync(ARTIFACTS, { recursive: true });
  // Each operation gets the key its document names (merchant or operator), and real ids to act on.
  const configFile = path.join(ARTIFACTS, 'schemathesis.toml');
  writeFileSync(configFile, fuzzConfig({ merchant: m.key, operator: ADMIN_KEY }, await fuzzFixtures(m.api, client(stack().url, ADMIN_KEY))));
  const args = [
    '--config-file', configFile,
    'run', `${stack().url}/openapi.json`,
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
    // e.g. FUZZ_ARGS='--include-path-regex subscriptions --report har' to look closer at a few operations.
    ...(process.env.FUZZ_ARGS?.split(' ').filter(Boolean) ?? []),
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
  writeFileSync(path.join(ARTIFACTS, 'schemathesis.txt'), output);
  // A workflow whose code threw on fuzzed input would sit stuck while its API answered 503.
  const failedTasks = await failedWorkflowTasks(stack().context.temporal, `TaskQueue = "${stack().config.TEMPORAL_TASK_QUEUE}"`);
  // In the failure itself, which CI's summary keeps whole; the full report is in test-artifacts/.
  const failures = /^=+ FAILURES =+$([\s\S]*?)^=+ [A-Z ]+ =+$/m.exec(output)?.[1]?.trim() ?? (code === 0 ? '' : output.slice(-5_000));
  if (failures) {
    // What the workflows behind the failing requests had done by then (a 503 there means none took the update).
    const named = [...new Set(failures.match(/\b(?:pay|sub)_[A-Za-z0-9]{24}\b/g) ?? [])];
    const trails = await Promise.all(named.map((id) => workflowTrail(stack().context.temporal, id.startsWith('sub_') ? subscriptionWorkflowId(id) : paymentWorkflowId(id))));
    console.log(`workflows named in the failures:\n${trails.join('\n')}`);
  }
  expect({ code, failures, failedTasks }).toEqual({ code: 0, failures: '', failedTasks: [] });
  expect(output).toMatch(/passed/i);
}, 400_000);
