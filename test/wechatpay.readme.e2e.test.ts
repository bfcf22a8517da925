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

/** `set -a; . file; set +a`: KEY=value lines, values single-quoted where they hold spaces or escapes. */
function readEnvFile(file: string): Record<string, string> {
  return Object.fromEntries(readFileSync(file, 'utf8').trim().split('\n').map((line) => {
    const value = line.slice(line.indexOf('=') + 1);
    return [line.slice(0, line.indexOf('=')), value.startsWith("'") && value.endsWith("'") ? value.slice(1, -1) : value];
  }));
}

test('README: npm run wechatpay:simulator, npm start with its env file, a QR payment paid, then refunded', async () => {
  const dataDir = newTestDir();
  const simulatorPort = await freePort();
  const appPorts = await ports();
  const started = await spawnSimulator('scripts/wechatpay-simulator.ts', { DATA_DIR: dataDir, WECHATPAY_SIMULATOR_PORT: String(simulatorPort), PORT: appPorts.PORT }, 'WeChat Pay simulator (API v3) on');
  simulator = started.proc;
  const simOut = started.output();

  const envFile = path.join(dataDir, 'wechatpay-simulator.env');
  expect(statSync(envFile).mode & 0o777).toBe(0o600);
  const wechatEnv = readEnvFile(envFile);
  expect(Object.keys(wechatEnv).sort()).toEqual([
    'WECHATPAY_APIV3_KEY', 'WECHATPAY_APPID', 'WECHATPAY_BASE_URL', 'WECHATPAY_MCHID', 'WECHATPAY_MERCHANT_PRIVATE_KEY', 'WECHATPAY_MERCHANT_SERIAL',
    'WECHATPAY_NOTIFY_URL', 'WECHATPAY_PLATFORM_KEYS',
  ]);
  const keyMiddle = wechatEnv.WECHATPAY_MERCHANT_PRIVATE_KEY!.slice(200, 260);
  expect(simOut).not.toContain(keyMiddle);

  instance = await npmStart({ DATA_DIR: path.join(dataDir, 'app'), ...appPorts, ...wechatEnv });
  const shop = client(instance.api, instance.demoKey);
  const created = await shop.post('/v1/payments', readmeQrBody(readFileSync(path.join(ROOT, 'README.md'), 'utf8'), '### A WeChat Pay QR payment'));
  expect(created.status).toBe(201);
  expect(created.body).toMatchObject({ provider: 'wechat_pay', status: 'requires_action', next_action: { type: 'display_qr_code' } });
  expect(created.body.next_action.qr_code).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${simulatorPort}/qr/`));
  const pay = created.body.id as string;

  const sim = `http://127.0.0.1:${simulatorPort}`;
  expect((await fetch(`${sim}/sim/orders/${pay}/pay`, { method: 'POST' })).status).toBe(200);
  const paid = await eventually(async () => (await shop.get(`/v1/payments/${pay}`)).body, (p) => p.status === 'captured');
  expect(paid.amount_captured).toBe(created.body.amount);
  const notified = (await (await fetch(`${sim}/sim/notifications`)).json()) as Array<{ outTradeNo: string; delivered: boolean; status?: number }>;
  expect(notified.find((n) => n.outTradeNo === pay)).toMatchObject({ delivered: true, status: 200 });

  const refund = await shop.post('/v1/refunds', { payment_id: pay, amount: 1000 });
  expect(refund.body).toMatchObject({ status: 'succeeded', amount: 1000 });
  const order = (await (await fetch(`${sim}/sim/orders/${pay}`)).json()) as { tradeState: string; refunded: number; refunds: string[] };
  expect(order).toMatchObject({ tradeState: 'REFUND', refunded: 1000, refunds: [refund.body.id] });
  expect(instance.output()).not.toContain(keyMiddle);
  expect(await stop(instance)).toBe(0);
}, 180_000);
