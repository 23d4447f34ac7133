import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { createRedactor } from './redact.js';

export type { Logger } from 'pino';

/** Options for {@link createLogger}. */
export interface CreateLoggerOptions {
  /** The process or component name, written as `name` on every line. */
  name: string;
  /**
   * pino level.
   * @defaultValue `'info'`
   */
  level?: LoggerOptions['level'];
  /** Where lines go. @defaultValue stdout */
  destination?: DestinationStream;
  /** Secret values from configuration, masked wherever they appear (see `createRedactor`). */
  knownSecrets?: readonly (string | undefined)[];
}

/**
 * A pino logger whose every line passes through {@link redact}: secrets in fields (under
 * secret-named keys) and in messages (bearer tokens, `whsec_` secrets, callback tokens in URLs,
 * API keys) never reach the output.
 */
export function createLogger(options: CreateLoggerOptions): Logger {
  const { redact, redactText } = createRedactor({ knownSecrets: options.knownSecrets });
  return pino(
    {
      name: options.name,
      level: options.level ?? 'info',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (object) => redact(object),
      },
      serializers: {
        err: (error: unknown) => redact(error instanceof Error ? error : { value: error }),
      },
      hooks: {
        logMethod(args, method) {
          // Messages are free text: mask secret patterns in them too.
          const masked = args.map((arg) => (typeof arg === 'string' ? redactText(arg) : arg));
          return method.apply(this, masked as Parameters<typeof method>);
        },
      },
    },
    options.destination ?? pino.destination({ sync: false }),
  );
}
