import type { KeyObject } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ApiError } from './api';
import { parseAuthorization, requestMessage, rsaVerify } from './signing';

/**
 * What WeChat Pay checks before any business logic: the User-Agent it requires, then the
 * `Authorization` header — its merchant, the certificate serial it names, a timestamp within five
 * minutes, and an RSA-SHA256 signature over the request exactly as sent (raw path, query and body).
 */

const MAX_CLOCK_SKEW_S = 300;

export type Credentials = { mchid: string; merchantSerial: string; merchantKey: KeyObject };

export function authenticate(headers: IncomingHttpHeaders, method: string, pathAndQuery: string, body: string, c: Credentials): ApiError | undefined {
  if (!headers['user-agent']) return new ApiError(400, 'INVALID_REQUEST', '请求头缺少User-Agent', { field: 'User-Agent', location: 'header', issue: 'required' });
  const auth = parseAuthorization(headers.authorization);
  if (typeof auth === 'string') return signError('Authorization', auth);
  // WeChat finds the verifying key by merchant and serial: with either wrong there is nothing to verify with.
  if (auth.mchid !== c.mchid) return signError('mchid', `no certificate for merchant ${auth.mchid}`);
  if (auth.serialNo !== c.merchantSerial) return signError('serial_no', `serial_no ${auth.serialNo} is not the merchant's API certificate`);
  if (!/^\d{1,12}$/.test(auth.timestamp) || Math.abs(Math.floor(Date.now() / 1000) - Number(auth.timestamp)) > MAX_CLOCK_SKEW_S) {
    return signError('timestamp', `timestamp ${auth.timestamp} is more than ${MAX_CLOCK_SKEW_S}s from the server's clock`);
  }
  const message = requestMessage(method, pathAndQuery, auth.timestamp, auth.nonceStr, body);
  if (!rsaVerify(message, auth.signature, c.merchantKey)) {
    // Like WeChat, show what was verified, so a client can compare with what it signed.
    return signError('signature', 'sign not match', {
      method, url: pathAndQuery, sign_message_length: Buffer.byteLength(message), truncated_sign_message: message.slice(0, 256),
    });
  }
  return undefined;
}

function signError(field: string, issue: string, signInformation?: Record<string, unknown>): ApiError {
  return new ApiError(401, 'SIGN_ERROR', '签名错误，请检查后再试', {
    field, location: 'header', issue, ...(signInformation ? { sign_information: signInformation } : {}),
  });
}
