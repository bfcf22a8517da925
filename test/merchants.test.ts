import type { Pool } from 'pg';
import { newApiKey } from '../api/routes/merchants';
import { findMerchantByApiKey, insertMerchant, setLiveApiKey } from '../db/merchants';
import { createPool } from '../db/pool';
import { newId } from '../domain/ids';
import { readInfra } from './support/infra';

// Every API request resolves its key: the owners this process has seen are kept for a while,
// and what must stay exact is that a new key works at once and a replaced one stops at once.
let pool: Pool;
beforeAll(() => {
  pool = createPool(readInfra().databaseUrl, 2);
});
afterAll(() => pool.end());

const merchant = (apiKey: string, liveApiKey: string) =>
  insertMerchant(pool, { id: newId('mer'), name: 'Key owner', settlementCurrency: null, fxMarginBps: 0, apiKey, liveApiKey });

test('a key seen once is resolved again without the database; its mode is the key\'s', async () => {
  const [testKey, liveKey] = [newApiKey(false), newApiKey(true)];
  const m = await merchant(testKey, liveKey);
  expect(await findMerchantByApiKey(pool, testKey)).toMatchObject({ id: m.id, livemode: false });
  expect(await findMerchantByApiKey(pool, liveKey)).toMatchObject({ id: m.id, livemode: true });
  const queries = jest.spyOn(pool, 'query');
  try {
    expect(await findMerchantByApiKey(pool, testKey)).toMatchObject({ id: m.id, livemode: false });
    expect(await findMerchantByApiKey(pool, liveKey)).toMatchObject({ id: m.id, livemode: true });
    expect(queries).not.toHaveBeenCalled();
  } finally {
    queries.mockRestore();
  }
});

test('an unknown key is asked for every time, so a merchant created after it was refused works at once', async () => {
  const testKey = newApiKey(false);
  expect(await findMerchantByApiKey(pool, testKey)).toBeUndefined();
  const m = await merchant(testKey, newApiKey(true));
  expect(await findMerchantByApiKey(pool, testKey)).toMatchObject({ id: m.id, livemode: false });
});

test('a replaced live key is refused at once, and the new one acts in live mode', async () => {
  const [testKey, oldLive, newLive] = [newApiKey(false), newApiKey(true), newApiKey(true)];
  const m = await merchant(testKey, oldLive);
  expect(await findMerchantByApiKey(pool, oldLive)).toMatchObject({ id: m.id, livemode: true });
  await setLiveApiKey(pool, m.id, newLive);
  expect(await findMerchantByApiKey(pool, oldLive)).toBeUndefined();
  expect(await findMerchantByApiKey(pool, newLive)).toMatchObject({ id: m.id, livemode: true });
  expect(await findMerchantByApiKey(pool, testKey)).toMatchObject({ id: m.id, livemode: false });
});
