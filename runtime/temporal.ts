import { Client, Connection } from '@temporalio/client';
import type { ClientPlugin } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { NativeConnection } from '@temporalio/worker';

export type TemporalTarget = { address: string; namespace: string };

/** Lazy: the API boots while Temporal is down and says so on /readyz instead of crashing. */
export async function connectClient(target: TemporalTarget, dataConverter: DataConverter, plugins: ClientPlugin[] = []): Promise<Client> {
  const connection = Connection.lazy({ address: target.address, connectTimeout: '5s' });
  return new Client({ connection, namespace: target.namespace, dataConverter, plugins });
}

export async function connectWorker(target: TemporalTarget): Promise<NativeConnection> {
  return NativeConnection.connect({ address: target.address });
}
