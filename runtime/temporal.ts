import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { NativeConnection } from '@temporalio/worker';

export type TemporalTarget = { address: string; namespace: string };

/**
 * Lazy: the API boots while Temporal is down and says so on /readyz instead of crashing.
 * Without the SDK's transport retry interceptor: its timers outlive the request (and throw once
 * the connection is closed), so calls that must go through retry explicitly within the request's
 * deadline (api/sync.ts) and the rest answer 503 for the caller to retry.
 */
export async function connectClient(target: TemporalTarget, dataConverter: DataConverter): Promise<Client> {
  const connection = Connection.lazy({ address: target.address, connectTimeout: '5s', interceptors: [] });
  return new Client({ connection, namespace: target.namespace, dataConverter });
}

export async function connectWorker(target: TemporalTarget): Promise<NativeConnection> {
  return NativeConnection.connect({ address: target.address });
}
