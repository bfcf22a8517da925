import pino from 'pino';
import pretty from 'pino-pretty';

/**
 * Structured JSON logs; anything that could carry a secret or card data is redacted. `pretty`:
 * one readable line per entry (a terminal running `npm start`), written synchronously.
 */
export function createLogger(level: string, format: 'json' | 'pretty' = 'json') {
  const options: pino.LoggerOptions = {
    level,
    base: undefined,
    redact: {
      paths: ['*.authorization', '*.Authorization', '*.api_key', '*.apiKey', '*.token', '*.secret', '*.password', '*.privateKey', '*.private_key', 'headers.authorization', 'req.headers.authorization'],
      censor: '[redacted]',
    },
  };
  return format === 'pretty' ? pino(options, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname', sync: true })) : pino(options);
}
export type Logger = ReturnType<typeof createLogger>;
