import { describeExecutable, resolveTemporalExecutable } from './temporal-cli';

/** `npm run temporal:install`: make sure a Temporal CLI is available (used by CI and first runs). */
const exe = resolveTemporalExecutable();
if (exe.type !== 'existing-path') {
  console.error('No Temporal CLI found and Go is not available to build it; the SDK will download one on first use.');
  process.exit(0);
}
console.log(`Temporal CLI: ${describeExecutable(exe)}`);
