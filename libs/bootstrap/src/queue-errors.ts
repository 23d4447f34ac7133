import type { Logger } from '@callback-gateway/audit';
import { Counter, type Registry } from 'prom-client';

/** Anything that emits `error` events: a BullMQ `Queue` or `Worker`. */
export interface ErrorEmitter {
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** Options for {@link createQueueErrorReporter}. */
export interface QueueErrorReporterOptions {
  logger: Logger;
  registry: Registry;
  /**
   * Whether the Redis connection is up. While it is not, its supervisor has already said so
   * (once, with how to fix it): the queue's own errors then go to debug, not a line each.
   */
  redisReady: () => boolean;
}

/**
 * Watches the `error` events of BullMQ queues and workers (an unwatched one would crash the
 * process): each is counted in `cbgw_queue_errors_total{queue}`, and logged as a warning
 * unless Redis is known to be away.
 */
export function createQueueErrorReporter(
  options: QueueErrorReporterOptions,
): (name: string, emitter: ErrorEmitter) => void {
  const errors = new Counter({
    name: 'cbgw_queue_errors_total',
    help: 'Errors reported by BullMQ queues and workers (most while Redis is away), by queue.',
    labelNames: ['queue'],
    registers: [options.registry],
  });
  return (name, emitter) => {
    errors.inc({ queue: name }, 0);
    emitter.on('error', (error) => {
      errors.inc({ queue: name });
      if (options.redisReady()) {
        options.logger.warn({ err: error, queue: name }, `queue ${name}: ${error.message}`);
      } else {
        options.logger.debug(
          { err: error, queue: name },
          `queue ${name} (Redis away): ${error.message}`,
        );
      }
    });
  };
}
