import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { eventually } from './stack';

const ROOT = path.resolve(__dirname, '..', '..');

/** `npm run <x>:simulator` as a user runs it: the script in its own process, ready once it prints `ready`. */
export async function spawnSimulator(script: string, env: Record<string, string>, ready: string): Promise<{ proc: ChildProcess; output: () => string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  await eventually(async () => out, (o) => o.includes(ready), 30_000);
  return { proc, output: () => out };
}

export async function stopProcess(proc: ChildProcess | undefined): Promise<void> {
  if (!proc || proc.exitCode !== null) return;
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGTERM');
  await exited;
}

/** The README's payment body in a section, exactly as printed (the `-d '{…"channel":"qr"…}'` of its curl). */
export function readmeQrBody(readme: string, heading: string): Record<string, unknown> {
  const section = readme.slice(readme.indexOf(heading));
  const body = /-d '(\{[^']*"channel":"qr"[^']*\})'/.exec(section)?.[1];
  if (!body) throw new Error(`the README has no QR payment body under "${heading}"`);
  return JSON.parse(body) as Record<string, unknown>;
}
