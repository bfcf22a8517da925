import { InterceptingCall, ListenerBuilder, status as GrpcStatus } from '@grpc/grpc-js';
import type { Interceptor } from '@grpc/grpc-js';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import type { ClientPlugin } from '@temporalio/client';
import type { DataConverter, SearchAttributePair } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { NativeConnection } from '@temporalio/worker';

export type TemporalTarget = { address: string; namespace: string };

/**
 * The client's calls still running, the SDK's retries of each included. The SDK retries on
 * timers (an update the server aborted, for one), and a retry that fires after the channel has
 * closed throws where nothing can catch it: a shutdown waits here first.
 */
export class CallsInFlight {
  private count = 0;
  private onIdle: (() => void)[] = [];

  /** Outside the SDK's retry interceptor: a call ends once its last retry has. */
  readonly interceptor: Interceptor = (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start: (metadata, _listener, next) => {
        this.count++;
        let ended = false;
        next(metadata, new ListenerBuilder().withOnReceiveStatus((status, pass) => {
          if (!ended) {
            ended = true;
            if (--this.count === 0) for (const resolve of this.onIdle.splice(0)) resolve();
          }
          pass(status);
        }).build());
      },
    });

  get size(): number {
    return this.count;
  }

  /** Resolves once no call is running, or after `ms` at most. */
  async drained(ms: number): Promise<void> {
    if (this.count === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.onIdle.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/**
 * Why an attempt failed, in few values: an update the server aborted (it does under bursts of
 * updates on one workflow, and the SDK sends it again) is told apart from other unavailability.
 */
export type FailedAttempt = { method: string; reason: 'update_aborted' | Lowercase<keyof typeof GrpcStatus> };

/**
 * Reports every attempt of a call that ends in an error, the ones the SDK's retry interceptor
 * then retries included: placed inside it, it sees each attempt, which nothing else records.
 */
export function failedAttempts(onFailed: (attempt: FailedAttempt) => void): Interceptor {
  return (options, nextCall) => {
    const method = options.method_definition.path.slice(options.method_definition.path.lastIndexOf('/') + 1);
    return new InterceptingCall(nextCall(options), {
      start: (metadata, _listener, next) => {
        next(metadata, new ListenerBuilder().withOnReceiveStatus((status, pass) => {
          if (status.code !== GrpcStatus.OK) {
            const aborted = status.code === GrpcStatus.UNAVAILABLE && /update was aborted/i.test(status.details);
            onFailed({ method, reason: aborted ? 'update_aborted' : (GrpcStatus[status.code]?.toLowerCase() ?? 'unknown') as FailedAttempt['reason'] });
          }
          pass(status);
        }).build());
      },
    });
  };
}

/** Lazy: the API boots while Temporal is down and says so on /readyz instead of crashing. */
export async function connectClient(
  target: TemporalTarget, dataConverter: DataConverter, plugins: ClientPlugin[] = [], onFailedAttempt?: (attempt: FailedAttempt) => void,
): Promise<{ client: Client; calls: CallsInFlight }> {
  const calls = new CallsInFlight();
  const connection = Connection.lazy({
    address: target.address, connectTimeout: '5s',
    // The first is the outermost: it sees one call however many times the second retries it; the
    // last sees every attempt.
    interceptors: [calls.interceptor, makeGrpcRetryInterceptor(defaultGrpcRetryOptions()), ...(onFailedAttempt ? [failedAttempts(onFailedAttempt)] : [])],
  });
  return { client: new Client({ connection, namespace: target.namespace, dataConverter, plugins }), calls };
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
