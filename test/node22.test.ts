import { spawnSync } from 'node:child_process';
import path from 'node:path';

// The image runs Node 22 (LTS) while this machine's Node 20 keeps `npm start` working: the pure
// suites (money, FX, references, statements, bills, reports, risk rules, configuration) run
// again under Node 22, fetched as the registry's `node` package.
const NODE_22 = 'node@22.23.3';
const ROOT = path.resolve(__dirname, '..');
const SUITES = [
  'money', 'fx.unit', 'bank.reference', 'bank.statement', 'alipay.bill', 'wechatpay.bill', 'stripe.report', 'risk.rules', 'config', 'billing.calendar', 'routing.unit',
].map((name) => `test/${name}.test.ts`);
const CONFIG = JSON.stringify({
  rootDir: ROOT, testEnvironment: 'node', roots: ['<rootDir>/test'], testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] }, testTimeout: 60_000,
});

test(`the pure suites pass under ${NODE_22}, the image's Node`, () => {
  const version = spawnSync('npx', ['-y', '-p', NODE_22, 'node', '--version'], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  expect(version.stdout.trim()).toMatch(/^v22\./);
  const res = spawnSync('npx', ['-y', '-p', NODE_22, 'node', path.join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js'), '--runInBand', '--config', CONFIG, ...SUITES], {
    cwd: ROOT, encoding: 'utf8', timeout: 600_000, env: { ...process.env, NODE_OPTIONS: '' },
  });
  const output = `${res.stdout}${res.stderr}`;
  if (res.status !== 0) console.log(output.slice(-10_000));
  expect(output).toMatch(new RegExp(`Test Suites: ${SUITES.length} passed, ${SUITES.length} total`));
  expect(res.status).toBe(0);
}, 600_000);
