import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { freePort } from '../scripts/ports';
import { newTestDir } from './support/infra';
import type { Instance } from './support/npm-start';
import { npmStart, ports, stop } from './support/npm-start';
import { readmeQrBody, spawnSimulator, stopProcess } from './support/simulator-process';
import { client, eventually } from './support/stack';

const ROOT = path.resolve(__dirname, '..');
let simulator: ChildProcess | undefined;
let instance: Instance | undefined;

afterAll(async () => {
  if (instance && instance.proc.exitCode === null) await stop(instance);
  await stopProcess(simulator);
});

test('README: npm run alipay:simulator, npm start with its env file, a QR payment paid, then refunded', async () => {
  const dataDir = newTestDir();
  const simulatorPort = await freePort();
  const started = await spawnSimulator('scripts/alipay-simulator.ts', { DATA_DIR: dataDir, ALIPAY_SIMULATOR_PORT: String(simulatorPort) }, 'Alipay gateway simulator on');
  simulator = started.proc;
  const simOut = started.output();

  // `set -a; . .data/alipay-simulator.env; set +a`: plain KEY=value lines, private to the owner.
  const envFile = path.join(dataDir, 'alipay-simulator.env');
  expect(statSync(envFile).mode & 0o777).toBe(0o600);
  const alipayEnv = Object.fromEntries(readFileSync(envFile, 'utf8').trim().split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
  expect(Object.keys(alipayEnv).sort()).toEqual(['ALIPAY_APP_ID', 'ALIPAY_GATEWAY', 'ALIPAY_PRIVATE_KEY', 'ALIPAY_PUBLIC_KEY']);
  // Keys are never printed (the middle of the key: every PKCS#8 RSA key starts alike).
  expect(simOut).not.toContain(alipayEnv.ALIPAY_PRIVATE_KEY!.slice(200, 260));

  instance = await npmStart({ DATA_DIR: path.join(dataDir, 'app'), ...(await ports()), ...alipayEnv });
  const shop = client(instance.api, instance.demoKey);
  const created = await shop.post('/v1/payments', readmeQrBody(readFileSync(path.join(ROOT, 'README.md'), 'utf8'), '### An Alipay QR payment'));
  expect(created.status).toBe(201);
  expect(created.body).toMatchObject({ provider: 'alipay', status: 'requires_action', next_action: { type: 'display_qr_code' } });
  expect(created.body.next_action.qr_code).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${simulatorPort}/qr/`));
  const pay = created.body.id as string;

  // The customer scans and pays at the simulator; its signed notify reaches npm start's /webhooks/alipay.
  const sim = `http://127.0.0.1:${simulatorPort}`;
  expect((await fetch(`${sim}/sim/trades/${pay}/pay`, { method: 'POST' })).status).toBe(200);
  const paid = await eventually(async () => (await shop.get(`/v1/payments/${pay}`)).body, (p) => p.status === 'captured');
  expect(paid.amount_captured).toBe(created.body.amount);
  const notified = (await (await fetch(`${sim}/sim/notifications`)).json()) as Array<{ outTradeNo: string; answer?: string }>;
  expect(notified.find((n) => n.outTradeNo === pay)?.answer).toBe('success');

  const refund = await shop.post('/v1/refunds', { payment_id: pay, amount: 1000 });
  expect(refund.body).toMatchObject({ status: 'succeeded', amount: 1000 });
  const trade = (await (await fetch(`${sim}/sim/trades/${pay}`)).json()) as { status: string; refunds: Array<{ outRequestNo: string; amount: string }> };
  expect(trade.status).toBe('TRADE_SUCCESS');
  expect(trade.refunds).toEqual([expect.objectContaining({ outRequestNo: refund.body.id, amount: '10.00' })]);
  expect(instance.output()).not.toContain(alipayEnv.ALIPAY_PRIVATE_KEY!.slice(200, 260));
  expect(await stop(instance)).toBe(0);
}, 180_000);
