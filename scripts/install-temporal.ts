import { describeExecutable, goEnv, resolveStripeMock, resolveTemporalExecutable } from './temporal-cli';
import { installTemporalServer } from './temporal-server';

/**
 * `npm run temporal:install`: the Temporal CLI, stripe-mock for the tests, and with Go the real
 * Temporal server, temporal-sql-tool and the UI server (`npm run temporal:server`, the tests'
 * real-server slice). CI and first runs.
 */
const stripeMock = resolveStripeMock();
console.log(stripeMock ? `stripe-mock: ${stripeMock}` : 'stripe-mock not found and Go is not available: the Stripe contract tests need it.');

const exe = resolveTemporalExecutable();
if (exe.type !== 'existing-path') {
  console.error('No Temporal CLI found and Go is not available to build it; the SDK will download one on first use.');
  process.exit(0);
}
console.log(`Temporal CLI: ${describeExecutable(exe)}`);

if (goEnv('GOVERSION')) {
  const tools = installTemporalServer();
  console.log(`Temporal server: ${tools.server}\ntemporal-sql-tool: ${tools.sqlTool}\nschemas: ${tools.schemaDir}\nUI server: ${tools.ui ?? 'did not build (see above); the server runs without it'}`);
} else {
  console.log('Go is not available: the real Temporal server (npm run temporal:server, npm run test:server) needs it to build.');
}
