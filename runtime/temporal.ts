import { Client, Connection } from '@temporalio/client';
import type { ClientPlugin } from '@temporalio/client';
import type { DataConverter, SearchAttributePair } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
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

const INDEXED_VALUE_TYPE: Record<string, temporal.api.enums.v1.IndexedValueType> = {
  TEXT: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  KEYWORD: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  INT: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
  DOUBLE: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  BOOL: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  DATETIME: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  KEYWORD_LIST: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

/**
 * Registers the search attributes the workflows set that the namespace does not have yet (a
 * cluster set up for an older version): without them, starting a payment would be refused.
 * Returns the names it added. Needs the operator API; where that is not allowed (a managed
 * cloud), registration stays a deployment step (README).
 */
export async function ensureSearchAttributes(client: Client, namespace: string, keys: readonly SearchAttributePair['key'][], deadlineMs = 3000): Promise<string[]> {
  // Bounded: the SDK's own retries stop at the deadline instead of outliving the connection.
  const { connection } = client;
  const within = <T>(call: () => Promise<T>) => connection.withDeadline(Date.now() + deadlineMs, call);
  const { customAttributes } = await within(() => connection.operatorService.listSearchAttributes({ namespace }));
  const missing = keys.filter((k) => !(k.name in (customAttributes ?? {})));
  if (missing.length === 0) return [];
  await within(() => connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((k) => [k.name, INDEXED_VALUE_TYPE[k.type]!])),
  }));
  return missing.map((k) => k.name);
}
