import { chmodSync, writeFileSync } from 'node:fs';

/** What `npm run alipay:simulator` and `npm run wechatpay:simulator` share: key files, signals, exit codes. */

/** Private keys on disk: owner-only, whatever the umask. */
export function writePrivate(file: string, content: string): void {
  writeFileSync(file, content, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** Stops the simulator once on SIGINT or SIGTERM, then exits 0. */
export function stopOnSignal(name: string, stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    console.log(`[${name}] ${signal}: stopping`);
    void stop().then(() => process.exit(0));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}

/** Runs the script's main; a failure prints its message (never a stack) and exits 1. */
export function runMain(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
