import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { runMain, stopOnSignal, writePrivate } from './simulator-cli';
import path from 'node:path';
import { WechatPaySimulator, generateKeyPair, randomCertificateSerial, randomPublicKeyId } from '../simulators/wechat_pay/gateway';
import { randomString } from '../simulators/wechat_pay/signing';

/**
 * `npm run wechatpay:simulator`: a local WeChat Pay (API v3) for demos without a merchant
 * account. Its keys are generated once and kept under DATA_DIR, so an orchestrator configured
 * from the env file keeps working across restarts of either side. The platform key is named by a
 * `PUB_KEY_ID_…`, as for merchants onboarded since WeChat introduced public-key mode.
 */

/** The merchant and app ids of WeChat's own documentation examples. */
const MCHID = '1900000109';
const APPID = 'wxd678efh567hg6787';

type KeyMaterial = {
  mchid: string;
  appid: string;
  merchantSerial: string;
  merchantPrivateKey: string;
  merchantPublicKey: string;
  platformSerial: string;
  platformPrivateKey: string;
  platformPublicKey: string;
  apiV3Key: string;
};

const KEYS: ReadonlyArray<keyof KeyMaterial> = [
  'mchid', 'appid', 'merchantSerial', 'merchantPrivateKey', 'merchantPublicKey', 'platformSerial', 'platformPrivateKey', 'platformPublicKey', 'apiV3Key',
];

function isKeyMaterial(value: unknown): value is KeyMaterial {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return KEYS.every((k) => typeof v[k] === 'string');
}


function loadOrCreateKeys(file: string): KeyMaterial {
  if (existsSync(file)) {
    const stored: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (!isKeyMaterial(stored)) throw new Error(`${file} is not a WeChat Pay simulator key file: delete it to generate new keys`);
    return stored;
  }
  const merchant = generateKeyPair();
  const platform = generateKeyPair();
  const keys: KeyMaterial = {
    mchid: MCHID,
    appid: APPID,
    merchantSerial: randomCertificateSerial(),
    merchantPrivateKey: merchant.privateKey,
    merchantPublicKey: merchant.publicKey,
    platformSerial: randomPublicKeyId(),
    platformPrivateKey: platform.privateKey,
    platformPublicKey: platform.publicKey,
    apiV3Key: randomString(32),
  };
  writePrivate(file, `${JSON.stringify(keys, null, 2)}\n`);
  return keys;
}

/**
 * One line, single-quoted: read the same by `set -a; . file` and by `node --env-file`. PEMs keep
 * their line breaks as `\n` escapes, which the orchestrator's configuration expands.
 */
function envValue(value: string): string {
  const line = value.replace(/\r?\n/g, '\\n');
  if (line.includes("'")) throw new Error('an env value cannot contain a single quote');
  return `'${line}'`;
}

async function main() {
  const dataDir = path.resolve(process.env.DATA_DIR ?? '.data');
  const port = Number(process.env.WECHATPAY_SIMULATOR_PORT ?? 9090);
  const host = '127.0.0.1';
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`WECHATPAY_SIMULATOR_PORT must be a port number, not ${process.env.WECHATPAY_SIMULATOR_PORT}`);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const keys = loadOrCreateKeys(path.join(dataDir, 'wechatpay-simulator.json'));

  const simulator = new WechatPaySimulator({
    mchid: keys.mchid,
    appid: keys.appid,
    merchantSerial: keys.merchantSerial,
    merchantPublicKey: keys.merchantPublicKey,
    platformSerial: keys.platformSerial,
    platformPrivateKey: keys.platformPrivateKey,
    apiV3Key: keys.apiV3Key,
    log: (msg, fields) => console.log(`[wechatpay-simulator] ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}`),
  });
  const baseUrl = await simulator.start(port, host);

  // Where the orchestrator listens by default (its own default for WECHATPAY_NOTIFY_URL).
  const notifyUrl = process.env.WECHATPAY_NOTIFY_URL ?? `http://${process.env.HOST ?? '127.0.0.1'}:${process.env.PORT ?? 3000}/webhooks/wechat_pay`;
  const envFile = path.join(dataDir, 'wechatpay-simulator.env');
  writePrivate(envFile, [
    `WECHATPAY_MCHID=${keys.mchid}`,
    `WECHATPAY_APPID=${keys.appid}`,
    `WECHATPAY_MERCHANT_SERIAL=${keys.merchantSerial}`,
    `WECHATPAY_MERCHANT_PRIVATE_KEY=${envValue(keys.merchantPrivateKey)}`,
    `WECHATPAY_PLATFORM_KEYS=${envValue(JSON.stringify({ [keys.platformSerial]: keys.platformPublicKey }))}`,
    `WECHATPAY_APIV3_KEY=${envValue(keys.apiV3Key)}`,
    `WECHATPAY_BASE_URL=${baseUrl}`,
    `WECHATPAY_NOTIFY_URL=${notifyUrl}`,
    '',
  ].join('\n'));

  const relative = path.relative(process.cwd(), envFile);
  const shownEnv = relative && !relative.startsWith('..') ? relative : envFile;
  console.log(`WeChat Pay simulator (API v3) on ${baseUrl}
  credentials (merchant id, app id, merchant key and serial, platform key, APIv3 key, base URL): ${envFile}
  use it: set -a; . ${shownEnv}; set +a; npm start
  pay an order: open its code_url (or h5_url), or POST /sim/orders/<out_trade_no>/pay
  settle a PROCESSING refund: POST /sim/refunds/<out_refund_no>/settle {"status":"SUCCESS"}; faults: POST /sim/faults`);

  stopOnSignal('wechatpay-simulator', () => simulator.stop());
}

runMain(main);
