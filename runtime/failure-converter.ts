import { DefaultFailureConverter } from '@temporalio/common';

/**
 * Failure messages and stack traces can quote amounts, references or customer data: they are
 * moved into an encoded payload (which the payload codec then encrypts), and the server only
 * sees "Encoded failure". Loaded by path, so workers, bundles and clients share this one module.
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
