import { startFakeStripe } from '../test/support/fake-stripe';

/**
 * `npm run stripe:fake`: the stateful local Stripe of the tests, for demos without a Stripe
 * account. Point the orchestrator at it with STRIPE_API_BASE; its webhooks go to WEBHOOK_URL.
 */
async function main() {
  const secret = process.env.STRIPE_WEBHOOK_SECRET ?? 'whsec_local_fake_stripe';
  const fake = await startFakeStripe(secret);
  fake.setWebhooks(process.env.WEBHOOK_URL ?? 'http://127.0.0.1:3000/webhooks/stripe');
  console.log(`Fake Stripe on ${fake.url}
  STRIPE_SECRET_KEY=sk_test_local STRIPE_API_BASE=${fake.url} STRIPE_WEBHOOK_SECRET=${secret} npm start
  3-D Secure: POST ${fake.url}/_fake/3ds/<pi_id>?outcome=succeeded|failed`);
  process.once('SIGINT', () => void fake.close().then(() => process.exit(0)));
}

void main();
