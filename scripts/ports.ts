import net from 'node:net';

/**
 * A port free right now on loopback, other than `avoid`: ports configured for services that
 * bind later (the OS may hand one of them out in between).
 */
export async function freePort(avoid: readonly number[] = []): Promise<number> {
  for (;;) {
    const port = await anyFreePort();
    if (!avoid.includes(port)) return port;
  }
}

/**
 * A port free right now on loopback in [10000, 32767]: the Temporal server stores its services'
 * membership ports in a SMALLINT column, so the OS's ephemeral range (from 32768) cannot be used.
 */
export async function freeLowPort(avoid: readonly number[] = []): Promise<number> {
  for (;;) {
    const port = 10_000 + Math.floor(Math.random() * (32_767 - 10_000));
    if (!avoid.includes(port) && (await anyFreePort(port).then(() => true, () => false))) return port;
  }
}

function anyFreePort(wanted = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(wanted, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
