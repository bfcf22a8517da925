import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { EphemeralServerExecutable } from '@temporalio/testing';

/** The Temporal CLI we build and test against. Later tags carry `replace` directives that break `go install`. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';
export const TOOLS_DIR = path.resolve(__dirname, '..', '.tools');

/**
 * The dev server's dynamic config, as deploy/temporal-dynamicconfig.yaml sets the real server's.
 * Eager activity execution: the worker that schedules an activity on its own task queue takes
 * it in the reply to its workflow task, instead of from matching after a round trip through the
 * queue. Off by default in server 1.29; measured here at about 50 ms off every such activity
 * (a payment's create answers after one).
 */
export const DEV_SERVER_DYNAMIC_CONFIG = ['--dynamic-config-value', 'system.enableActivityEagerExecution=true'];

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

/**
 * Builds a pinned Go tool into the git-ignored tools folder, as `installAs` (several modules name
 * their binary `server`). Returns its path, or undefined without Go or when the build fails (Go's
 * own error is on stderr).
 */
export function goInstall(module: string, version: string, binary: string, log: (msg: string) => void, installAs = binary): string | undefined {
  const go = onPath('go');
  if (!go) return undefined;
  mkdirSync(TOOLS_DIR, { recursive: true });
  const gobin = mkdtempSync(path.join(TOOLS_DIR, '.build-'));
  try {
    log(`Building ${installAs} ${version} with Go into ${TOOLS_DIR} (once)...`);
    // In a terminal, `-v` names each package as it compiles: progress through a build of minutes.
    const result = spawnSync(go, ['install', ...(process.stderr.isTTY ? ['-v'] : []), `${module}@${version}`], { env: { ...process.env, GOBIN: gobin }, stdio: ['ignore', 'inherit', 'inherit'] });
    if (result.status !== 0 || !isExecutable(path.join(gobin, binary))) return undefined;
    const installed = path.join(TOOLS_DIR, installAs);
    renameSync(path.join(gobin, binary), installed);
    return installed;
  } finally {
    rmSync(gobin, { recursive: true, force: true });
  }
}

/** A tool built earlier into the tools folder, or on PATH. */
export const findTool = (name: string): string | undefined => [path.join(TOOLS_DIR, name)].find(isExecutable) ?? onPath(name);

/** `go env <name>`, or undefined without Go. */
export function goEnv(name: string): string | undefined {
  const go = onPath('go');
  return go ? execFileSync(go, ['env', name], { encoding: 'utf8' }).trim() : undefined;
}

export const goInstallTemporal = (log: (msg: string) => void = console.log) => goInstall(TEMPORAL_CLI_MODULE, TEMPORAL_CLI_VERSION, 'temporal', log);

/** stripe-mock, whose OpenAPI spec (2025-09-30.clover) matches the pinned `stripe` SDK's API version. */
export const STRIPE_MOCK_VERSION = 'v0.197.0';

/** stripe-mock for the Stripe contract tests: `STRIPE_MOCK`, then `PATH`, then `.tools/`, then `go install`. */
export function resolveStripeMock(opts: { install?: boolean; log?: (msg: string) => void } = {}): string | undefined {
  const fromEnv = process.env.STRIPE_MOCK;
  if (fromEnv) return isExecutable(fromEnv) ? fromEnv : undefined;
  const found = onPath('stripe-mock') ?? [path.join(TOOLS_DIR, 'stripe-mock')].find(isExecutable);
  if (found || opts.install === false) return found;
  return goInstall('github.com/stripe/stripe-mock', STRIPE_MOCK_VERSION, 'stripe-mock', opts.log ?? console.log);
}

/**
 * Finds the Temporal CLI (dev server + Web UI): `TEMPORAL_CLI`, then `PATH`, then `.tools/`,
 * then `go install` of the pinned version, then the SDK's cached download (needs internet).
 */
export function resolveTemporalExecutable(opts: { install?: boolean; log?: (msg: string) => void } = {}): EphemeralServerExecutable {
  const fromEnv = process.env.TEMPORAL_CLI;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new Error(`TEMPORAL_CLI=${fromEnv} is not an executable file`);
    return { type: 'existing-path', path: fromEnv };
  }
  const found = onPath('temporal') ?? [path.join(TOOLS_DIR, 'temporal')].find(isExecutable);
  if (found) return { type: 'existing-path', path: found };
  if (opts.install !== false) {
    const built = goInstallTemporal(opts.log);
    if (built) return { type: 'existing-path', path: built };
  }
  return { type: 'cached-download' };
}

export function describeExecutable(exe: EphemeralServerExecutable): string {
  if (exe.type === 'existing-path') {
    try {
      return `${exe.path} (${execFileSync(exe.path, ['--version'], { encoding: 'utf8' }).trim()})`;
    } catch {
      return exe.path;
    }
  }
  return 'the Temporal SDK cached download';
}
