import pino from 'pino';

/** Structured JSON logs; anything that could carry a secret or card data is redacted. */
export function createLogger(level: string) {
  return pino({
    level,
    base: undefined,
    redact: {
      paths: ['*.authorization', '*.Authorization', '*.api_key', '*.apiKey', '*.token', '*.secret', '*.password', '*.privateKey', '*.private_key', 'headers.authorization', 'req.headers.authorization'],
      censor: '[redacted]',
    },
  });
}
export type Logger = ReturnType<typeof createLogger>;
