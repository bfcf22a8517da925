import type { Pool } from 'pg';
import { ConfigError, loadConfig } from '../config';
import { createLogger } from '../runtime/logger';
import { createProviders } from '../runtime/providers';
import { planRoute } from '../routing/plan';
import { generateKeyPair } from '../simulators/alipay/gateway';
import { pemBody } from '../simulators/alipay/signing';

const app = generateKeyPair();
const alipay = generateKeyPair();
const credentials = { ALIPAY_APP_ID: '2021000000000042', ALIPAY_PRIVATE_KEY: pemBody(app.privateKey), ALIPAY_PUBLIC_KEY: pemBody(alipay.publicKey) };
const providersFor = (env: Record<string, string>) => createProviders({} as Pool, loadConfig(env), createLogger('silent'));
/** Where an alipay payment goes without routing rules: the provider chosen, or the refusal's code. */
const routeAlipay = (providers: ReturnType<typeof providersFor>, forced?: 'alipay', livemode = false) => {
  const plan = planRoute(providers, undefined, { amount: 8800, currency: 'CNY', method: 'alipay', captureMethod: 'automatic', channel: 'qr', forced, livemode, hasToken: true });
  return typeof plan === 'function' ? plan('pay_x').candidates[0] : plan.code;
};

test('all three Alipay credentials or none', () => {
  expect(() => loadConfig({ ALIPAY_APP_ID: '2021000000000042' })).toThrow(ConfigError);
  expect(() => loadConfig({ ALIPAY_APP_ID: '2021000000000042' })).toThrow(/ALIPAY_PRIVATE_KEY, ALIPAY_PUBLIC_KEY/);
  expect(providersFor({}).alipay).toBeUndefined();
  expect(routeAlipay(providersFor({}))).toBe('sandbox'); // without them the sandbox serves alipay (test mode)
  expect(routeAlipay(providersFor({}), 'alipay')).toBe('provider_unavailable'); // forcing an unconfigured provider is refused
  expect(routeAlipay(providersFor({}), undefined, true)).toBe('provider_unavailable'); // never the sandbox in live mode
});

test("with Alipay's own gateway, notifications need a public https URL", () => {
  expect(() => providersFor(credentials)).toThrow(/ALIPAY_NOTIFY_URL/);
  expect(() => providersFor({ ...credentials, ALIPAY_GATEWAY: 'https://openapi-sandbox.dl.alipaydev.com/gateway.do', ALIPAY_NOTIFY_URL: 'http://shop.example/webhooks/alipay' })).toThrow(/https/);
  const providers = providersFor({ ...credentials, ALIPAY_NOTIFY_URL: 'https://pay.shop.example/webhooks/alipay' });
  expect(providers.alipay?.appId).toBe('2021000000000042');
  // Alipay's production gateway moves real money: it serves live mode, and test mode stays on the sandbox.
  expect(providers.modes.alipay).toBe('live');
  expect(routeAlipay(providers, undefined, true)).toBe('alipay');
  expect(routeAlipay(providers)).toBe('sandbox');
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
