import http from 'node:http';
import { temporal } from '@temporalio/proto';
import type { KeyLike } from 'jose';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { EncryptionCodec, parsePayloadKeys } from '../runtime/codec';
import { card, client, newMerchant, useTestStack } from './support/stack';

const CODEC_TOKEN = 'codec-token-0123456789abcdef';
const stack = useTestStack({ CODEC_AUTH_TOKEN: CODEC_TOKEN, TEMPORAL_UI_PORT: '18233' });
const UI_ORIGIN = 'http://127.0.0.1:18233';

const json = (value: unknown) => ({ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(JSON.stringify(value)) });

test('key rotation: the newest key encrypts, every configured key decrypts', async () => {
  const k1 = `k1:${Buffer.alloc(32, 1).toString('base64')}`;
  const k2 = `k2:${Buffer.alloc(32, 2).toString('base64')}`;
  const old = new EncryptionCodec(parsePayloadKeys(k1));
  const rotated = new EncryptionCodec(parsePayloadKeys(`${k2},${k1}`));
  const [sealedByOld] = await old.encode([json({ amount: 1999 })]);
  const [sealedByNew] = await rotated.encode([json({ amount: 2999 })]);
  expect(Buffer.from(sealedByNew!.metadata!['encryption-key-id']!).toString()).toBe('k2');
  expect(Buffer.from((await rotated.decode([sealedByOld!]))[0]!.data!).toString()).toBe('{"amount":1999}');
  await expect(old.decode([sealedByNew!])).rejects.toThrow(/unknown key "k2"/);
  const tampered = { ...sealedByOld!, data: Buffer.from(sealedByOld!.data!).fill(0, 20, 21) };
  await expect(rotated.decode([tampered])).rejects.toThrow();
  expect(() => parsePayloadKeys('short:AAAA')).toThrow(/32 bytes/);
});

test('the history on the Temporal server holds ciphertext, not the token or the order details', async () => {
  const m = await newMerchant(stack());
  const res = await m.api.post('/v1/payments', {
    amount: 4711, currency: 'EUR', payment_method: card('tok_ok'), description: 'order-secret-description', metadata: { email: 'buyer@example.com' },
  });
  expect(res.body.status).toBe('captured');
  const { history } = await stack().context.temporal.workflowService.getWorkflowExecutionHistory({
    namespace: stack().config.TEMPORAL_NAMESPACE,
    execution: { workflowId: `payment:${res.body.id}` },
  });
  const raw = Buffer.from(temporal.api.history.v1.History.encode(history!).finish());
  for (const secret of ['order-secret-description', 'buyer@example.com', 'tok_ok']) expect(raw.includes(secret)).toBe(false);
  const started = history!.events![0]!.workflowExecutionStartedEventAttributes!;
  expect(Buffer.from(started.input!.payloads![0]!.metadata!.encoding!).toString()).toBe('binary/encrypted');

  // The UI's codec endpoint turns it back into the payment input.
  const sealed = started.input!.payloads![0]!;
  const body = { payloads: [{ metadata: { encoding: Buffer.from(sealed.metadata!.encoding!).toString('base64'), 'encryption-key-id': Buffer.from(sealed.metadata!['encryption-key-id']!).toString('base64') }, data: Buffer.from(sealed.data!).toString('base64') }] };
  const decoded = await client(stack().url, CODEC_TOKEN).post('/codec/decode', body, { origin: UI_ORIGIN });
  expect(decoded.status).toBe(200);
  expect(decoded.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
  const input = JSON.parse(Buffer.from(decoded.body.payloads[0].data, 'base64').toString());
  expect(input.payment).toMatchObject({ id: res.body.id, amount: 4711, description: 'order-secret-description' });
});

test('the codec round-trips, and refuses other origins and callers without the token', async () => {
  const plain = { payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('{"a":1}').toString('base64') }] };
  const api = client(stack().url, CODEC_TOKEN);
  const encoded = await api.post('/codec/encode', plain, { origin: UI_ORIGIN });
  expect(Buffer.from(encoded.body.payloads[0].metadata.encoding, 'base64').toString()).toBe('binary/encrypted');
  const decoded = await api.post('/codec/decode', encoded.body, { origin: UI_ORIGIN });
  expect(decoded.body).toEqual(plain);

  const preflight = await api.raw('OPTIONS', '/codec/decode', undefined, { origin: UI_ORIGIN, 'access-control-request-method': 'POST' });
  expect(preflight.status).toBe(204);
  const foreign = await api.post('/codec/decode', encoded.body, { origin: 'https://evil.example' });
  expect(foreign.status).toBe(403);
  expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  const anonymous = await client(stack().url).post('/codec/decode', encoded.body, { origin: UI_ORIGIN });
  expect(anonymous.status).toBe(401);
});

test('failure messages are encoded too: the server stores "Encoded failure", the workflow still reads the real one', async () => {
  const m = await newMerchant(stack());
  // tok_timeout: the first authorize fails with an unknown outcome, a non-retryable activity failure.
  const res = await m.api.post('/v1/payments', { amount: 5150, currency: 'EUR', payment_method: card('tok_timeout') });
  expect(res.body.status).toBe('captured');
  const { history } = await stack().context.temporal.workflowService.getWorkflowExecutionHistory({
    namespace: stack().config.TEMPORAL_NAMESPACE,
    execution: { workflowId: `payment:${res.body.id}` },
  });
  const failed = history!.events!.filter((e) => e.activityTaskFailedEventAttributes);
  expect(failed).toHaveLength(1);
  const failure = failed[0]!.activityTaskFailedEventAttributes!.failure!;
  expect(failure.message).toBe('Encoded failure');
  expect(Buffer.from(failure.encodedAttributes!.metadata!.encoding!).toString()).toBe('binary/encrypted');
  expect(Buffer.from(temporal.api.history.v1.History.encode(history!).finish()).includes('request timed out')).toBe(false);
  // With the key (as the UI through /codec), the real message is there.
  const [plain] = await new EncryptionCodec(parsePayloadKeys(stack().config.PAYLOAD_ENCRYPTION_KEYS!)).decode([failure.encodedAttributes as never]);
  expect(JSON.parse(Buffer.from(plain!.data!).toString())).toMatchObject({ message: 'sandbox: request timed out' });
});

describe('where the codec is served', () => {
  const plain = { payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('{"b":2}').toString('base64') }] };
  const closed = useTestStack({ TEMPORAL_UI_PORT: '18233' }, { worker: false });
  const separate = useTestStack({ TEMPORAL_UI_PORT: '18233', CODEC_PORT: '0' }, { worker: false });

  test('without a token (and outside npm start) the API port does not decrypt for anyone', async () => {
    const res = await client(closed().url).post('/codec/decode', plain, { origin: UI_ORIGIN });
    expect(res.status).toBe(404);
  });

  test('with CODEC_PORT it is served on that operators-only listener, and only there', async () => {
    expect((await client(separate().url).post('/codec/encode', plain, { origin: UI_ORIGIN })).status).toBe(404);
    const codec = client(separate().codecUrl!);
    const encoded = await codec.post('/codec/encode', plain, { origin: UI_ORIGIN });
    expect(encoded.status).toBe(200);
    expect((await codec.post('/codec/decode', encoded.body, { origin: UI_ORIGIN })).body).toEqual(plain);
    expect((await codec.get('/v1/payments')).status).toBe(404); // nothing else of the API there
  });
});

describe('operators signed in through OIDC: the codec verifies the access token the UI forwards', () => {
  const ISSUER = 'https://login.example.test/realms/ops';
  const plain = { payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('{"c":3}').toString('base64') }] };
  let jwksServer: http.Server;
  let jwksUrl = '';
  let issuerKey: KeyLike;
  let strangerKey: KeyLike;
  beforeAll(async () => {
    // The issuer's JWKS endpoint, as an OIDC provider serves it (public keys only).
    const issuer = await generateKeyPair('RS256');
    issuerKey = issuer.privateKey;
    strangerKey = (await generateKeyPair('RS256')).privateKey;
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(issuer.publicKey)), kid: 'ops-1', alg: 'RS256', use: 'sig' }] });
    jwksServer = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(jwks));
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}/protocol/openid-connect/certs`;
  });
  afterAll(() => new Promise((resolve) => jwksServer?.close(resolve)));
  const oidc = useTestStack(() => ({ TEMPORAL_UI_PORT: '18233', CODEC_JWKS_URL: jwksUrl, CODEC_JWT_ISSUER: ISSUER, CODEC_JWT_AUDIENCE: 'temporal-ui' }), { worker: false });
  const token = (key: KeyLike, claims: { iss?: string; aud?: string; exp?: number | string } = {}) =>
    new SignJWT({ sub: 'operator-1' }).setProtectedHeader({ alg: 'RS256', kid: 'ops-1' }).setIssuedAt()
      .setIssuer(claims.iss ?? ISSUER).setAudience(claims.aud ?? 'temporal-ui').setExpirationTime(claims.exp ?? '5m').sign(key);

  test('a token signed by the issuer decrypts; none, another key, another issuer or audience, or an expired one is a 401', async () => {
    const codec = (bearer?: string) => client(oidc().url, bearer).post('/codec/encode', plain, { origin: UI_ORIGIN });
    const good = await codec(await token(issuerKey));
    expect(good.status).toBe(200);
    expect((await client(oidc().url, await token(issuerKey)).post('/codec/decode', good.body, { origin: UI_ORIGIN })).body).toEqual(plain);
    const refusals = [
      await codec(),
      await codec(await token(strangerKey)),
      await codec(await token(issuerKey, { iss: 'https://evil.example.test' })),
      await codec(await token(issuerKey, { aud: 'another-app' })),
      await codec(await token(issuerKey, { exp: Math.floor(Date.now() / 1000) - 3600 })),
      await codec('not-a-jwt'),
    ];
    expect(refusals.map((r) => [r.status, r.body.error?.code])).toEqual(Array(6).fill([401, 'invalid_codec_token']));
    // Without an Origin (a script rather than the UI) the token is required all the same.
    expect((await client(oidc().url).post('/codec/encode', plain)).status).toBe(401);
  });
});
