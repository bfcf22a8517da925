import { existsSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * As root, PostgreSQL runs as the `postgres` system user, which must be able to enter every
 * folder above its cluster. Names the first folder it cannot, and the fix, before anything starts
 * (otherwise `initdb` fails with an opaque `spawn … EACCES`).
 */
export function unreachableByPostgresUser(dir: string): string | undefined {
  const folders: string[] = [];
  for (let at = path.dirname(path.resolve(dir)); ; at = path.dirname(at)) {
    folders.unshift(at);
    if (path.dirname(at) === at) break;
  }
  for (const folder of folders) {
    if (!existsSync(folder)) break;
    if ((statSync(folder).mode & 0o001) === 0) {
      return `PostgreSQL cannot reach its data under ${path.resolve(dir)}: as root it runs as the \`postgres\` user, which cannot enter ${folder}.\n` +
        `  Fix: chmod o+x ${folder}  (or run as a normal user, or set DATA_DIR to a folder it can reach, e.g. under /tmp)`;
    }
  }
  return undefined;
}
