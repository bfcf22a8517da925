import type { Pool } from 'pg';
import { ConfigError, loadConfig } from '../config';
import { createLogger } from '../runtime/logger';
import { createProviders, routeProvider } from '../runtime/providers';
import { generateKeyPair } from '../simulators/alipay/gateway';
import { pemBody } from '../simulators/alipay/signing';

const app = generateKeyPair();
const alipay = generateKeyPair();
const credentials = { ALIPAY_APP_ID: '2021000000000042', ALIPAY_PRIVATE_KEY: pemBody(app.privateKey), ALIPAY_PUBLIC_KEY: pemBody(alipay.publicKey) };
const providersFor = (env: Record<string, string>) => createProviders({} as Pool, loadConfig(env), createLogger('silent'));

test('all three Alipay credentials or none', () => {
  expect(() => loadConfig({ ALIPAY_APP_ID: '2021000000000042' })).toThrow(ConfigError);
  expect(() => loadConfig({ ALIPAY_APP_ID: '2021000000000042' })).toThrow(/ALIPAY_PRIVATE_KEY, ALIPAY_PUBLIC_KEY/);
  expect(providersFor({}).alipay).toBeUndefined();
  expect(routeProvider(providersFor({}), undefined, 'alipay')).toBe('sandbox'); // without them the sandbox serves alipay
  expect(routeProvider(providersFor({}), 'alipay', 'alipay')).toBeUndefined(); // forcing an unconfigured provider is refused
});

test("with Alipay's own gateway, notifications need a public https URL", () => {
  expect(() => providersFor(credentials)).toThrow(/ALIPAY_NOTIFY_URL/);
  expect(() => providersFor({ ...credentials, ALIPAY_GATEWAY: 'https://openapi-sandbox.dl.alipaydev.com/gateway.do', ALIPAY_NOTIFY_URL: 'http://shop.example/webhooks/alipay' })).toThrow(/https/);
  const providers = providersFor({ ...credentials, ALIPAY_NOTIFY_URL: 'https://pay.shop.example/webhooks/alipay' });
  expect(providers.alipay?.appId).toBe('2021000000000042');
  expect(routeProvider(providers, undefined, 'alipay')).toBe('alipay');
  // A local gateway (the simulator) is reached from this machine: the API's own address will do.
  expect(providersFor({ ...credentials, ALIPAY_GATEWAY: 'http://127.0.0.1:9080/gateway.do' }).alipay).toBeDefined();
});

test('keys in PEM or bare base64; a bad key is named, never echoed', () => {
  const local = { ALIPAY_GATEWAY: 'http://127.0.0.1:9080/gateway.do' };
  expect(providersFor({ ...credentials, ...local, ALIPAY_PRIVATE_KEY: app.privateKey, ALIPAY_PUBLIC_KEY: alipay.publicKey }).alipay).toBeDefined();
  const bad = 'not-a-key-but-a-secret-value';
  let message = '';
  try {
    providersFor({ ...credentials, ...local, ALIPAY_PRIVATE_KEY: bad });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    message = (err as Error).message;
  }
  expect(message).toContain('ALIPAY_PRIVATE_KEY');
  expect(message).not.toContain(bad);
});
