import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../config';

// Secrets from files (Docker and Kubernetes secrets), as the postgres image's file_env.
const dir = mkdtempSync(path.join(os.tmpdir(), 'config-'));
const secret = (name: string, value: string) => {
  const file = path.join(dir, name);
  writeFileSync(file, value);
  return file;
};

test('a secret comes from <NAME>_FILE, its trailing newline dropped', () => {
  const config = loadConfig({ ADMIN_API_KEY_FILE: secret('admin', 'admin-key-from-a-file-0123\n'), STRIPE_SECRET_KEY_FILE: secret('stripe', 'sk_test_from_file') });
  expect(config.ADMIN_API_KEY).toBe('admin-key-from-a-file-0123');
  expect(config.STRIPE_SECRET_KEY).toBe('sk_test_from_file');
});

test('both a value and a file, an unreadable file, or a file too short: a clear error naming the variable', () => {
  expect(() => loadConfig({ ADMIN_API_KEY: 'admin-key-inline-0123456', ADMIN_API_KEY_FILE: secret('both', 'x') })).toThrow(/ADMIN_API_KEY: set either ADMIN_API_KEY or ADMIN_API_KEY_FILE/);
  expect(() => loadConfig({ BANK_WEBHOOK_SECRET_FILE: path.join(dir, 'missing') })).toThrow(/BANK_WEBHOOK_SECRET_FILE: cannot read .*ENOENT/);
  expect(() => loadConfig({ ADMIN_API_KEY_FILE: secret('short', 'short') })).toThrow(ConfigError);
});

test('a scorer URL without its signing secret is refused', () => {
  expect(() => loadConfig({ RISK_WEBHOOK_URL: 'https://risk.example.com/score' })).toThrow(/RISK_WEBHOOK_SECRET: required with RISK_WEBHOOK_URL/);
  expect(loadConfig({ RISK_WEBHOOK_URL: 'https://risk.example.com/score', RISK_WEBHOOK_SECRET: 'a-scorer-secret-0123' }).RISK_WEBHOOK_TIMEOUT_MS).toBe(300);
});
