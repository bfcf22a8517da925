import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';

export type TemporalTarget = { address: string; namespace: string };

export async function connectClient(target: TemporalTarget): Promise<Client> {
  const connection = await Connection.connect({ address: target.address, connectTimeout: '10s' });
  return new Client({ connection, namespace: target.namespace });
}

export async function connectWorker(target: TemporalTarget): Promise<NativeConnection> {
  return NativeConnection.connect({ address: target.address });
}
