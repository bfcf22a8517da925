import { describeExecutable, resolveStripeMock, resolveTemporalExecutable } from './temporal-cli';

/** `npm run temporal:install`: the Temporal CLI, and stripe-mock for the tests (CI and first runs). */
const stripeMock = resolveStripeMock();
console.log(stripeMock ? `stripe-mock: ${stripeMock}` : 'stripe-mock not found and Go is not available: the Stripe contract tests need it.');

const exe = resolveTemporalExecutable();
if (exe.type !== 'existing-path') {
  console.error('No Temporal CLI found and Go is not available to build it; the SDK will download one on first use.');
  process.exit(0);
}
console.log(`Temporal CLI: ${describeExecutable(exe)}`);
