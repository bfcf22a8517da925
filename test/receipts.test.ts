import { SMTPServer } from 'smtp-server';
import { freePort } from '../scripts/ports';
import { card, eventually, newMerchant, startTestStack } from './support/stack';
import type { TestStack } from './support/stack';
import { expectAllLedgersConsistent } from './support/ledger';

type Mail = { from: string; to: string[]; raw: string };

/** A real SMTP server on loopback (the `smtp-server` package), keeping every message it accepts. */
async function startSmtp(port: number) {
  const mails: Mail[] = [];
  let refuseNext = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      let raw = '';
      stream.on('data', (c: Buffer) => (raw += c.toString('utf8')));
      stream.on('end', () => {
        if (refuseNext > 0) {
          refuseNext--;
          return callback(Object.assign(new Error('Mailbox busy, try later'), { responseCode: 451 }));
        }
        mails.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), raw });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { mails, refuse: (n: number) => (refuseNext = n), refusalsLeft: () => refuseNext, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

let smtp: Awaited<ReturnType<typeof startSmtp>>;
let stack: TestStack;
beforeAll(async () => {
  const port = await freePort();
  smtp = await startSmtp(port);
  stack = await startTestStack({ SMTP_URL: `smtp://127.0.0.1:${port}`, RECEIPT_FROM: 'Shop receipts <receipts@shop.test>' });
});
afterAll(async () => {
  if (stack) await expectAllLedgersConsistent(stack.pool);
  await stack?.stop();
  await smtp?.close();
});

/** The message with quoted-printable soft line breaks undone (our receipts are plain ASCII). */
const text = (mail: Mail) => mail.raw.replace(/=\r?\n/g, '');
const header = (raw: string, name: string) => new RegExp(`^${name}: (.*)$`, 'mi').exec(raw)?.[1];

test('a captured payment and each successful refund send the payer a receipt with the exact amount, once', async () => {
  const m = await newMerchant(stack, 'Corner Bakery');
  const p = (await m.api.post('/v1/payments', { amount: 1234, currency: 'USD', payment_method: card(), description: 'Two croissants', receipt_email: 'payer@example.com' })).body;
  expect(p).toMatchObject({ status: 'captured', receipt_email: 'payer@example.com' });
  await eventually(async () => smtp.mails.length, (n) => n === 1);
  const receipt = smtp.mails[0]!;
  expect(receipt.to).toEqual(['payer@example.com']);
  expect(receipt.from).toBe('receipts@shop.test');
  expect(header(receipt.raw, 'Subject')).toBe('Your receipt from Corner Bakery: 12.34 USD');
  expect(text(receipt)).toContain('You paid 12.34 USD to Corner Bakery.');
  expect(text(receipt)).toContain(`Payment: ${p.id}`);

  // The SMTP server refuses once: the receipt is retried, and still arrives once.
  smtp.refuse(1);
  const refund = (await m.api.post('/v1/refunds', { payment_id: p.id, amount: 500 })).body;
  await eventually(async () => smtp.mails.length, (n) => n === 2, 45_000);
  expect(header(smtp.mails[1]!.raw, 'Subject')).toBe('Refund of 5.00 USD from Corner Bakery');
  expect(text(smtp.mails[1]!)).toContain(`Refund: ${refund.id}`);
  expect(smtp.refusalsLeft()).toBe(0);
  const ids = smtp.mails.map((mail) => header(mail.raw, 'Message-ID'));
  expect(new Set(ids).size).toBe(2);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  expect(smtp.mails).toHaveLength(2);
}, 60_000);

test('zero- and three-decimal currencies print exactly; payments without receipt_email send none', async () => {
  const m = await newMerchant(stack, 'Kiosk');
  const before = smtp.mails.length;
  await m.api.post('/v1/payments', { amount: 1500, currency: 'JPY', payment_method: card(), receipt_email: 'yen@example.com' });
  await m.api.post('/v1/payments', { amount: 12345, currency: 'KWD', payment_method: card(), receipt_email: 'kwd@example.com' });
  await m.api.post('/v1/payments', { amount: 999, currency: 'USD', payment_method: card() });
  await eventually(async () => smtp.mails.length, (n) => n === before + 2);
  const subjects = smtp.mails.slice(before).map((mail) => header(mail.raw, 'Subject')).sort();
  expect(subjects).toEqual(['Your receipt from Kiosk: 12.345 KWD', 'Your receipt from Kiosk: 1500 JPY']);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  expect(smtp.mails).toHaveLength(before + 2);
  expect((await m.api.post('/v1/payments', { amount: 100, currency: 'USD', payment_method: card(), receipt_email: 'not-an-email' })).body.error)
    .toMatchObject({ type: 'invalid_request_error', param: 'receipt_email' });
});
