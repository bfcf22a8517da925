import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { z } from 'zod';
import { ApiError, FailureTypes, invalidRequest, invalidState, unavailable } from '../../domain/errors';
import type { Logger } from '../../runtime/logger';

/** Validates with zod; the first issue becomes a 400 naming the offending `param`. */
export function parse<T extends z.ZodTypeAny>(schema: T, data: unknown, prefix?: string): z.output<T> {
  const result = schema.safeParse(data);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = [...(prefix ? [prefix] : []), ...issue.path.map(String)];
  if (issue.code === 'unrecognized_keys') {
    path.push(issue.keys[0]!);
    throw invalidRequest(`Received unknown parameter: ${path.join('.')}`, path.join('.'), 'parameter_unknown');
  }
  const param = path.join('.') || undefined;
  if (!param) throw invalidRequest('The request body must be a JSON object.', undefined, 'invalid_body');
  const given = issue.path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined), data);
  const missing = issue.code === 'invalid_type' && given === undefined;
  if (missing) throw invalidRequest(`Missing required parameter: ${param}`, param, 'parameter_missing');
  if (param === 'currency' || param?.endsWith('_currency')) throw invalidRequest(`Invalid currency: ${issue.message}`, param, 'invalid_currency');
  if (param === 'amount') throw invalidRequest(`Invalid amount: ${issue.message}`, param, 'invalid_amount');
  throw invalidRequest(param ? `Invalid ${param}: ${issue.message}` : issue.message, param);
}

const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P03', '08006', '08001', '08003']);

/** True for "a dependency is down" errors: PostgreSQL or Temporal unreachable. */
export function isUnavailable(err: unknown): boolean {
  // Duck-typed: errors from Node's core may come from another realm, where instanceof fails.
  if (typeof err !== 'object' || err === null) return false;
  const { code, message = '', name } = err as { code?: unknown; message?: string; name?: string };
  if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
  if (typeof code === 'number' && (code === 14 || code === 4)) return true; // gRPC UNAVAILABLE, DEADLINE_EXCEEDED
  if (/timeout exceeded when trying to connect|Connection terminated|connect ECONNREFUSED|Query read timeout|UNAVAILABLE|DEADLINE_EXCEEDED/i.test(message)) return true;
  return name === 'ServiceError' || name === 'WorkflowUpdateRPCTimeoutOrCancelledError';
}

/** Failures thrown by workflow update validators/handlers become the contract's 4xx. */
export function toApiError(err: unknown): ApiError | undefined {
  if (err instanceof ApiError) return err;
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
    if (err.cause.type === FailureTypes.invalidState) return invalidState(err.cause.message);
    if (err.cause.type === FailureTypes.invalidAmount) return invalidRequest(err.cause.message, 'amount', 'invalid_amount');
    if (err.cause.type === FailureTypes.invalidParam) {
      const [param, code] = (err.cause.details ?? []).map((d) => (typeof d === 'string' ? d : undefined));
      return invalidRequest(err.cause.message, param, code);
    }
  }
  if (err instanceof WorkflowNotFoundError) return invalidState('This payment can no longer change.');
  // Any other update failure is the server's, not the request's: safe to retry with the same key.
  if (err instanceof WorkflowUpdateFailedError) return unavailable('The payment could not be reached; retry with the same Idempotency-Key.');
  if (isUnavailable(err)) return unavailable('A backing service is unavailable; retry with the same Idempotency-Key.');
  const body = err as { type?: string; status?: number };
  if (body?.type === 'entity.too.large') return new ApiError(413, 'invalid_request_error', 'body_too_large', 'Request body exceeds 64 KiB.');
  if (body?.type === 'entity.parse.failed') return invalidRequest('Malformed JSON in request body.', undefined, 'invalid_json');
  if (body?.type === 'encoding.unsupported' || body?.type === 'charset.unsupported') return invalidRequest('Unsupported body encoding.', undefined, 'invalid_encoding');
  if (typeof body?.status === 'number' && body.status >= 400 && body.status < 500) return invalidRequest('Invalid request.', undefined, 'invalid_request');
  return undefined;
}

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const apiError = toApiError(err);
    if (apiError) {
      if (apiError.status >= 500) log.warn({ path: req.path, err: err instanceof Error ? err.message : String(err) }, 'dependency unavailable');
      res.status(apiError.status).json(apiError.toBody());
      return;
    }
    log.error({ path: req.path, err }, 'unhandled error');
    res.status(500).json(new ApiError(500, 'api_error', 'internal_error', 'An internal error occurred.').toBody());
  };
}

/** A known path asked with a method the API does not offer there: 405 with the methods it does (RFC 9110). */
export const methodNotAllowed = (methodsOf: (path: string) => string[] | undefined): RequestHandler => (req, res, next) => {
  const allowed = methodsOf(req.path);
  if (!allowed || allowed.includes(req.method)) return next();
  res.setHeader('Allow', allowed.join(', '));
  res.status(405).json(new ApiError(405, 'invalid_request_error', 'method_not_allowed', `${req.method} is not allowed on ${req.path}; use ${allowed.join(', ')}.`).toBody());
};

export const notFoundRoute: RequestHandler = (req, res) => {
  res.status(404).json(new ApiError(404, 'not_found', 'route_not_found', `No route for ${req.method} ${req.path}`).toBody());
};
