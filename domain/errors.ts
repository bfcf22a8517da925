/** The error shape of API.md: `{ error: { type, code, message, param? } }`. */
export type ApiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found'
  | 'idempotency_error'
  | 'invalid_state'
  | 'payment_error'
  | 'rate_limit_error'
  | 'provider_error'
  | 'api_error';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: ApiErrorType,
    readonly code: string,
    message: string,
    readonly param?: string,
    readonly extra?: Record<string, unknown>,
  ) {
    super(message);
  }

  toBody(): { error: Record<string, unknown> } {
    return {
      error: {
        type: this.type,
        code: this.code,
        message: this.message,
        ...(this.param !== undefined ? { param: this.param } : {}),
        ...this.extra,
      },
    };
  }
}

export const invalidRequest = (message: string, param?: string, code = 'parameter_invalid') =>
  new ApiError(400, 'invalid_request_error', code, message, param);
/** A well-formed request the key may not make (a merchant key naming another mode): 403, as Stripe's permission_error. */
export const forbidden = (message: string, param?: string, code = 'livemode_not_allowed') =>
  new ApiError(403, 'permission_error', code, message, param);
export const notFound = (what: string, id: string, param?: string) =>
  new ApiError(404, 'not_found', 'resource_missing', `No such ${what}: '${id}'`, param);

/** The object, or the 404 that unknown ids and other merchants' ids share. */
export function found<T>(value: T | undefined, what: string, id: string, param?: string): T {
  if (value === undefined) throw notFound(what, id, param);
  return value;
}
export const invalidState = (message: string, code = 'invalid_state') => new ApiError(409, 'invalid_state', code, message);
export const unavailable = (message: string) => new ApiError(503, 'api_error', 'service_unavailable', message);

/**
 * Failure type strings shared by activities, the workflow and the API (strings, not class
 * names, which a bundler may rename). The first two come from update handlers and become HTTP
 * errors; the provider ones come from activities and steer the workflow.
 */
export const FailureTypes = {
  invalidState: 'InvalidState',
  invalidAmount: 'InvalidAmount',
  /** A parameter a workflow refused (its name is the failure's first detail): a 400. */
  invalidParam: 'InvalidParam',
  providerFault: 'ProviderFault',
  outcomeUnknown: 'ProviderOutcomeUnknown',
  /** The provider certainly did not act (unreachable before sending, or its circuit is open): the next candidate may be tried. */
  notProcessed: 'ProviderNotProcessed',
  /** A bank transfer already funded in full: a further credit is an overpayment, not a late one. */
  paymentFunded: 'PaymentFunded',
  /** The authorizing call could not write the payment's opening in its first attempt: it asked no provider. */
  openingFailed: 'PaymentOpeningFailed',
} as const;
