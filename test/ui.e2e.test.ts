import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { newTestDir } from './support/infra';
import type { Instance } from './support/npm-start';
import { npmStart, ports, stop } from './support/npm-start';
import { client } from './support/stack';

/** Debian's chromium (`.ci/run` installs it); CHROMIUM_PATH points elsewhere. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = path.resolve(__dirname, '..', 'test-artifacts');

let instance: Instance | undefined;
let browser: Browser | undefined;
afterAll(async () => {
  await browser?.close();
  if (instance) await stop(instance);
});

test('an operator finds a payment in the Temporal UI of npm start by PaymentStatus and reads its decoded input', async () => {
  instance = await npmStart({ DATA_DIR: path.join(newTestDir(), 'ui'), ...(await ports()) });
  const shop = client(instance.api, instance.demoKey);
  // Only the payment's (encrypted) input holds this description: seeing it proves the UI decoded it.
  const marker = `ui-check-${Date.now()}`;
  const payment = (await shop.post('/v1/payments', { amount: 4321, currency: 'EUR', payment_method: { type: 'card' }, capture_method: 'manual', description: marker })).body;
  expect(payment.status).toBe('authorized');

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-background-networking'] });
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  const decodeCalls: string[] = [];
  page.on('request', (req) => req.url().startsWith(`${instance!.api}/codec/decode`) && decodeCalls.push(req.method()));

  const query = encodeURIComponent('PaymentStatus="authorized"');
  await page.goto(`${instance.ui}/namespaces/default/workflows?query=${query}`);
  const row = page.getByRole('link', { name: `payment:${payment.id}` }).first();
  await row.waitFor({ timeout: 30_000 });
  await row.click();

  await page.waitForURL(/\/workflows\/payment(:|%3A)/, { timeout: 30_000 });
  await page.getByText(marker).first().waitFor({ timeout: 30_000 });
  expect(decodeCalls).toContain('POST');
  expect(await page.content()).not.toContain('binary/encrypted');

  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, 'temporal-ui-payment.png');
  await page.screenshot({ path: file, fullPage: true });
  expect(file).toMatch(/\.png$/);
}, 120_000);
