import type { AuditLog, Logger } from '@callback-gateway/audit';
import type { ErrorEmitter } from '@callback-gateway/bootstrap';
import type { LlamaCloudClient } from '@callback-gateway/llamacloud';
import {
  QUEUES,
  createRegistrationStore,
  createSubmissionStore,
  type ParseSubmissionJob,
  type StoreKeys,
} from '@callback-gateway/store';
import type { WebhookUrlResolver } from '@callback-gateway/webhook-url';
import { Worker, type ConnectionOptions } from 'bullmq';
import type { RedisClient } from '@callback-gateway/runtime';
import type { Registry } from 'prom-client';
import {
  RetrySubmissionError,
  createSubmissionProcessor,
  submissionRetryDelayMs,
  type ParseDefaults,
} from './processor.js';

/** Options for {@link startSubmissionService}. */
export interface SubmissionServiceOptions {
  connection: ConnectionOptions;
  storeRedis: RedisClient;
  keys: StoreKeys;
  webhookUrl: () => Pick<WebhookUrlResolver, 'resolve'> | undefined;
  llamaCloud: LlamaCloudClient | undefined;
  registrationTtlSeconds: number;
  expectCallbackWithinSeconds: number;
  /** Tier and version of v2 jobs whose submission names none. */
  parseDefaults: ParseDefaults;
  /**
   * Watches the worker's `error` events (see `createQueueErrorReporter`).
   * @defaultValue logged at debug level
   */
  watchQueue?: (name: string, emitter: ErrorEmitter) => void;
  audit: AuditLog;
  logger: Logger;
  registry: Registry;
  /** @defaultValue 4 */
  concurrency?: number;
  random?: () => number;
}

/** The running parse submission worker. */
export interface SubmissionService {
  readonly worker: Worker<ParseSubmissionJob>;
  /** Why submissions are waiting for a public URL, when they are (for `/readyz`). */
  waitingForUrl(): string | undefined;
  close(): Promise<void>;
}

/** Starts the consumer of the parse submission queue. */
export function startSubmissionService(options: SubmissionServiceOptions): SubmissionService {
  let waiting: string | undefined;
  const processor = createSubmissionProcessor({
    submissions: createSubmissionStore({ redis: options.storeRedis, keys: options.keys }),
    registrations: createRegistrationStore({ redis: options.storeRedis, keys: options.keys }),
    webhookUrl: options.webhookUrl,
    llamaCloud: options.llamaCloud,
    registrationTtlSeconds: options.registrationTtlSeconds,
    expectCallbackWithinSeconds: options.expectCallbackWithinSeconds,
    parseDefaults: options.parseDefaults,
    audit: options.audit,
    logger: options.logger,
    registry: options.registry,
    onUrlState: (reason) => {
      if (reason && reason !== waiting) {
        options.logger.warn(
          `parse submissions wait for a public callback URL (${reason}); retrying with backoff`,
        );
      }
      waiting = reason;
    },
    ...(options.random !== undefined && { random: options.random }),
  });
  const worker = new Worker<ParseSubmissionJob>(QUEUES.parseSubmissions, processor, {
    connection: options.connection,
    prefix: `{${options.keys.prefix}}`,
    concurrency: options.concurrency ?? 4,
    maxStalledCount: 1_000,
    settings: {
      backoffStrategy: (attemptsMade: number, _type?: string, error?: Error) =>
        error instanceof RetrySubmissionError
          ? error.delayMs
          : submissionRetryDelayMs(attemptsMade, options.random),
    },
  });
  if (options.watchQueue) options.watchQueue(QUEUES.parseSubmissions, worker);
  else
    worker.on('error', (error) => options.logger.debug({ err: error }, 'submission worker error'));
  return {
    worker,
    waitingForUrl: () => waiting,
    close: () => worker.close(),
  };
}
