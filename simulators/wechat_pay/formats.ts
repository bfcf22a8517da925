import { randomInt } from 'node:crypto';
import { randomString } from './signing';

/**
 * WeChat Pay's wire formats: integer amounts in fen, RFC 3339 times (written in Beijing time,
 * `+08:00`), and the shapes of the identifiers it hands out.
 */

const BEIJING_OFFSET_MS = 8 * 3_600_000;

/** `2026-05-20T13:29:35+08:00`: how WeChat writes every time it sends. */
export function rfc3339(at: Date | number): string {
  return `${beijingIso(at).slice(0, 19)}+08:00`;
}

function beijingIso(at: Date | number): string {
  return new Date(new Date(at).getTime() + BEIJING_OFFSET_MS).toISOString();
}

/** `yyyyMMdd` of the Beijing calendar day, part of WeChat's transaction and refund ids. */
export function beijingDay(at: Date | number): string {
  return beijingIso(at).slice(0, 10).replaceAll('-', '');
}

/**
 * Epoch milliseconds of an RFC 3339 time with its offset (`+08:00`, `-05:00`, `Z`), as WeChat
 * takes `time_expire`; undefined for anything else, including impossible dates.
 */
export function parseRfc3339(value: string): number | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|([+-])(\d{2}):(\d{2}))$/.exec(value);
  if (!match) return undefined;
  const [y, mo, d, h, mi, s] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return undefined;
  const wall = Date.UTC(y, mo - 1, d, h, mi, s);
  // Date.UTC rolls 2026-02-31 over into March: the day must survive the round trip.
  if (new Date(wall).getUTCDate() !== d) return undefined;
  const fraction = match[7] ? Math.floor(Number(`0${match[7]}`) * 1000) : 0;
  const offsetMs = match[8] === 'Z' ? 0 : (match[9] === '-' ? -1 : 1) * (Number(match[10]) * 60 + Number(match[11])) * 60_000;
  if (Math.abs(offsetMs) > 18 * 3_600_000) return undefined;
  return wall + fraction - offsetMs;
}

export function randomDigits(n: number): string {
  let digits = '';
  while (digits.length < n) digits += String(randomInt(0, 1_000_000_000)).padStart(9, '0');
  return digits.slice(0, n);
}

/** 28 digits, as WeChat's `transaction_id` (`4200001234202605201234567890`): a channel prefix, the day, a serial. */
export function newTransactionId(at: Date): string {
  return `42000${randomDigits(5)}${beijingDay(at)}${randomDigits(10)}`;
}

/** 29 digits, as WeChat's `refund_id` (`50300001234202605201234567890`). */
export function newRefundId(at: Date): string {
  return `50300${randomDigits(6)}${beijingDay(at)}${randomDigits(10)}`;
}

/** `wx` + the Beijing time to the second + 20 characters: 36 in all, as a real prepay_id. */
export function newPrepayId(at: Date): string {
  return `wx${beijingIso(at).slice(0, 19).replace(/\D/g, '')}${randomString(20).toLowerCase()}`;
}

/** Shaped like an openid (one per user and appid): `o` + 27 characters (real ones also use `-` and `_`). */
export function newOpenid(): string {
  return `o${randomString(27)}`;
}

/** Names an order's page, as `pr=` names the order in a real `weixin://wxpay/bizpayurl?pr=…`. */
export function newPageToken(): string {
  return randomString(12);
}

/** What WeChat's `Request-ID` answer header looks like: an opaque upper-case hex string. */
export function newRequestId(): string {
  return Array.from({ length: 36 }, () => '0123456789ABCDEF'[randomInt(16)]).join('');
}

/** `12.34` from 1234 fen: for pages only, the API never speaks yuan. */
export function yuan(fen: number): string {
  return `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;
}

/** JSON with object keys sorted at every depth: two requests with the same terms compare equal whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
