import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { runMain, stopOnSignal, writePrivate } from './simulator-cli';
import path from 'node:path';
import { AlipayGateway, generateKeyPair } from '../simulators/alipay/gateway';
import { pemBody } from '../simulators/alipay/signing';

/**
 * `npm run alipay:simulator`: a local Alipay gateway for demos without an Alipay account. Its
 * keys are generated once and kept under DATA_DIR, so an orchestrator configured from the env
 * file keeps working across restarts of either side.
 */

const APP_ID = '2021000000000001';

type KeyMaterial = { appId: string; appPrivateKey: string; appPublicKey: string; alipayPrivateKey: string; alipayPublicKey: string };

function isKeyMaterial(value: unknown): value is KeyMaterial {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return ['appId', 'appPrivateKey', 'appPublicKey', 'alipayPrivateKey', 'alipayPublicKey'].every((k) => typeof v[k] === 'string');
}


function loadOrCreateKeys(file: string): KeyMaterial {
  if (existsSync(file)) {
    const stored: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (!isKeyMaterial(stored)) throw new Error(`${file} is not an Alipay simulator key file: delete it to generate new keys`);
    return stored;
  }
  const app = generateKeyPair();
  const alipay = generateKeyPair();
  const keys = { appId: APP_ID, appPrivateKey: app.privateKey, appPublicKey: app.publicKey, alipayPrivateKey: alipay.privateKey, alipayPublicKey: alipay.publicKey };
  writePrivate(file, `${JSON.stringify(keys, null, 2)}\n`);
  return keys;
}

async function main() {
  const dataDir = path.resolve(process.env.DATA_DIR ?? '.data');
  const port = Number(process.env.ALIPAY_SIMULATOR_PORT ?? 9080);
  const host = '127.0.0.1';
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`ALIPAY_SIMULATOR_PORT must be a port number, not ${process.env.ALIPAY_SIMULATOR_PORT}`);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const keys = loadOrCreateKeys(path.join(dataDir, 'alipay-simulator.json'));

  const gateway = new AlipayGateway({
    appId: keys.appId,
    appPublicKey: keys.appPublicKey,
    alipayPrivateKey: keys.alipayPrivateKey,
    precreateNeedsScan: true,
    log: (msg, fields) => console.log(`[alipay-simulator] ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}`),
  });
  await gateway.start(port, host);

  const envFile = path.join(dataDir, 'alipay-simulator.env');
  writePrivate(envFile, [
    `ALIPAY_APP_ID=${keys.appId}`,
    `ALIPAY_PRIVATE_KEY=${pemBody(keys.appPrivateKey)}`,
    `ALIPAY_PUBLIC_KEY=${pemBody(keys.alipayPublicKey)}`,
    `ALIPAY_GATEWAY=${gateway.gatewayUrl}`,
    '',
  ].join('\n'));

  const relative = path.relative(process.cwd(), envFile);
  const shownEnv = relative && !relative.startsWith('..') ? relative : envFile;
  console.log(`Alipay gateway simulator on ${gateway.gatewayUrl}
  credentials (app id, app private key, Alipay public key, gateway): ${envFile}
  use it: set -a; . ${shownEnv}; set +a; npm start
  pay a trade: open its qr_code URL, or POST /sim/trades/<out_trade_no>/pay; faults: POST /sim/faults`);

  stopOnSignal('alipay-simulator', () => gateway.stop());
}

runMain(main);
