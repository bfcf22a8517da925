import type { Pool } from 'pg';
import { createPool, withClient } from '../db/pool';
import { readInfra } from './support/infra';

// A database connection lost while a client is checked out (PostgreSQL restarted, say) must not
// kill the worker with an unhandled 'error' event: the client is destroyed, the pool goes on.
let pool: Pool;
beforeAll(() => {
  pool = createPool(readInfra().databaseUrl, 2);
});
afterAll(() => pool.end());

test('a checked-out client whose connection dies is destroyed, not handed out again, and nothing crashes', async () => {
  const pids: number[] = [];
  await withClient(pool, async (client) => {
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    pids.push(rows[0]!.pid);
    await pool.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
    // The termination reaches the idle client as an 'error' event.
    await new Promise((resolve) => setTimeout(resolve, 500));
  });
  const again = await Promise.all([pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'), pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')]);
  for (const r of again) expect(r.rows[0]!.pid).not.toBe(pids[0]);
});
