/**
 * The shapes of WeChat Pay API v3 answers: a JSON body with a 2xx on success (204 without a
 * body), `{ code, message, detail? }` with a 4xx/5xx otherwise. Errors are thrown inside a handler
 * as `ApiError` so validation reads top to bottom. A downloaded file (a bill) is the one answer
 * that is neither JSON nor signed.
 */

export type ApiAnswer = { status: number; body?: Record<string, unknown>; file?: { contentType: string; data: Buffer } };

export type ErrorDetail = { field?: string; value?: unknown; issue?: string; location?: 'body' | 'query' | 'path' | 'header'; [k: string]: unknown };

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly detail?: ErrorDetail) {
    super(message);
    this.name = 'ApiError';
  }

  get answer(): ApiAnswer {
    return { status: this.status, body: { code: this.code, message: this.message, ...(this.detail ? { detail: this.detail } : {}) } };
  }
}

export const ok = (body: Record<string, unknown>): ApiAnswer => ({ status: 200, body });
export const noContent = (): ApiAnswer => ({ status: 204 });

/** WeChat's generic refusal of a field: `PARAM_ERROR` naming it by JSON pointer. */
export function paramError(field: string, issue: string, value?: unknown, location: ErrorDetail['location'] = 'body'): ApiError {
  return new ApiError(400, 'PARAM_ERROR', `参数错误 (${field}: ${issue})`, { field, value, issue, location });
}

export const mchNotExists = (): ApiError => new ApiError(400, 'MCH_NOT_EXISTS', '商户号不存在');

type Json = Record<string, unknown>;
type StringRule = { required?: boolean; maxBytes?: number; minLength?: number; pattern?: RegExp };

/**
 * Reads a request body by JSON pointer (`/amount/total`), refusing what WeChat refuses. Lengths
 * are UTF-8 bytes, as WeChat counts them: a 127-byte description is ~42 Chinese characters.
 */
export class BodyReader {
  constructor(private readonly root: Json) {}

  string(pointer: string, rule: StringRule & { required: true }): string;
  string(pointer: string, rule?: StringRule): string | undefined;
  string(pointer: string, rule: StringRule = {}): string | undefined {
    const value = this.raw(pointer);
    if (value === undefined || value === null) {
      if (rule.required) throw paramError(pointer, 'required');
      return undefined;
    }
    if (typeof value !== 'string') throw paramError(pointer, 'must be a string', value);
    if (rule.required && value === '') throw paramError(pointer, 'must not be empty', value);
    if (rule.minLength !== undefined && value.length < rule.minLength) throw paramError(pointer, `at least ${rule.minLength} characters`, value);
    if (rule.maxBytes !== undefined && Buffer.byteLength(value, 'utf8') > rule.maxBytes) throw paramError(pointer, `at most ${rule.maxBytes} bytes`, value);
    if (rule.pattern && !rule.pattern.test(value)) throw paramError(pointer, `must match ${rule.pattern.source}`, value);
    return value;
  }

  /** Amounts are integers in fen, at least 1: `"100"` and `1.5` are refused, as WeChat's JSON schema does. */
  fen(pointer: string): number {
    const value = this.raw(pointer);
    if (value === undefined || value === null) throw paramError(pointer, 'required');
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw paramError(pointer, 'must be an integer (fen)', value);
    if (value < 1) throw paramError(pointer, 'must be at least 1', value);
    return value;
  }

  object(pointer: string, required: boolean): Json | undefined {
    const value = this.raw(pointer);
    if (value === undefined || value === null) {
      if (required) throw paramError(pointer, 'required');
      return undefined;
    }
    if (typeof value !== 'object' || Array.isArray(value)) throw paramError(pointer, 'must be an object', value);
    return value as Json;
  }

  private raw(pointer: string): unknown {
    let at: unknown = this.root;
    for (const key of pointer.split('/').slice(1)) {
      if (at === null || typeof at !== 'object' || Array.isArray(at)) return undefined;
      at = (at as Json)[key];
    }
    return at;
  }
}

/** Only CNY: the domestic API (cross-border merchants have their own endpoints). Absent means CNY where WeChat allows it. */
export function cnyOnly(reader: BodyReader, pointer: string, required: boolean): 'CNY' {
  const currency = reader.string(pointer, { required });
  if (currency !== undefined && currency !== 'CNY') throw paramError(pointer, 'only CNY is supported', currency);
  return 'CNY';
}

/**
 * A notify URL as WeChat takes it: absolute, at most 255 bytes, and without query parameters
 * ("不能携带参数"). WeChat also requires https on a public host; the simulator takes http so
 * that an orchestrator on loopback can be reached.
 */
export function notifyUrlOf(reader: BodyReader, pointer: string, required: boolean): string | undefined {
  const value = reader.string(pointer, { required, maxBytes: 255 });
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw paramError(pointer, 'must be an absolute URL', value);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw paramError(pointer, 'must be an http(s) URL', value);
  if (url.search !== '' || url.hash !== '') throw paramError(pointer, 'must not carry parameters', value);
  return value;
}
