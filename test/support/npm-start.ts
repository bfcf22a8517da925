import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { freePort } from '../../scripts/ports';

const ROOT = path.resolve(__dirname, '..', '..');

export type Instance = { proc: ChildProcess; api: string; ui: string; temporal: string; adminKey: string; demoKey: string; output: () => string };

/** `npm start` exactly as a user runs it (node --import tsx scripts/start.ts), with its own ports and DATA_DIR. */
export async function npmStart(env: Record<string, string>): Promise<Instance> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => out.includes('Ctrl-C stops everything') && (clearInterval(timer), resolve()), 100);
    proc.once('exit', (code) => (clearInterval(timer), reject(new Error(`npm start exited with ${code}:\n${out}`))));
  });
  const field = (label: string) => out.match(new RegExp(`^\\s+${label} {2,}(\\S+)`, 'm'))![1]!;
  return { proc, api: field('API'), ui: field('Temporal UI'), temporal: field('Temporal'), adminKey: field('Admin key'), demoKey: field('Demo merchant'), output: () => out };
}

export async function stop(instance: Instance): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => instance.proc.once('exit', (code) => resolve(code)));
  instance.proc.kill('SIGTERM');
  return exited;
}

/** Free ports for one instance's API, Temporal server and UI. */
export async function ports() {
  return { PORT: String(await freePort()), TEMPORAL_PORT: String(await freePort()), TEMPORAL_UI_PORT: String(await freePort()) };
}
