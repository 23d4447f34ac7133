import {
  OWNED_PREFIXES,
  commonSettingsShape,
  SETTING_NAMES,
  envInt,
  envList,
  envOptionalInt,
  envSecret,
  envString,
  envUrl,
  parseSettings,
  storePartitionsOf,
  checkRedisTarget,
} from '@callback-gateway/runtime';
import { checkParseTier, checkParseVersion } from '@callback-gateway/llamacloud';
import { checkNotifySettings, notifyEnvShape } from '@callback-gateway/notify';
import {
  callbackPathReserveFor,
  checkWebhookUrlEnv,
  webhookUrlEnvSchema,
} from '@callback-gateway/webhook-url';
import { z } from 'zod';
import type { BreakerOptions } from './delivery/breaker.js';

/** The worker's environment variables (documented in the README under "Configuration"). */
export const workerSettingsSchema = webhookUrlEnvSchema.extend({
  ...commonSettingsShape,
  ...notifyEnvShape,
  WORKER_HOST: z
    .string()
    .trim()
    .optional()
    .transform((value) => (value ? value : '127.0.0.1')),
  WORKER_PORT: envInt({ default: 8081, min: 0, max: 65_535 }),
  DELIVERY_RETRY_SCHEDULE: envList({
    default: ['0', '5', '30', '120', '600', '1800', '3600', '10800', '21600'],
    item: (item) =>
      /^\d+(\.\d+)?$/.test(item) ? undefined : 'each entry must be a number of seconds',
  }).transform((items) => items.map(Number)),
  LLAMA_CLOUD_BASE_URL: envUrl({
    default: 'https://api.cloud.llamaindex.ai',
    protocols: ['https', 'http'],
  }),
  LLAMA_CLOUD_API_KEY: envSecret({ minLength: 8 }),
  // The cheapest tier that gives markdown: `fast` is cheaper but gives text only.
  LLAMA_CLOUD_PARSE_TIER: envString({ default: 'cost_effective', check: checkParseTier }),
  LLAMA_CLOUD_PARSE_VERSION: envString({ default: 'latest', check: checkParseVersion }),
  WORKER_CONCURRENCY: envInt({ default: 50, min: 1, max: 1_000 }),
  // Unset: every partition. Items: a partition number, or a range `a-b`.
  WORKER_PARTITIONS: envList({
    item: (item) =>
      /^\d{1,3}(-\d{1,3})?$/.test(item)
        ? undefined
        : 'each entry must be a partition or a range a-b',
  }),
  DELIVERY_TIMEOUT_MS: envInt({ default: 30_000, min: 100, max: 600_000 }),
  DELIVERY_CONNECT_TIMEOUT_MS: envInt({ default: 10_000, min: 100, max: 120_000 }),
  DELIVERY_HEADERS_TIMEOUT_MS: envInt({ default: 30_000, min: 100, max: 600_000 }),
  DELIVERY_MAX_CLIENT_ERROR_ATTEMPTS: envInt({ default: 3, min: 1, max: 100 }),
  DELIVERY_LOCK_DURATION_MS: envInt({ default: 0, min: 0, max: 3_600_000 }),
  DELIVERY_BREAKER_FAILURES: envInt({ default: 5, min: 1, max: 1_000 }),
  DELIVERY_BREAKER_OPEN_MS: envInt({ default: 30_000, min: 100, max: 3_600_000 }),
  // Unset: 5 minutes, or DELIVERY_BREAKER_OPEN_MS when that is longer.
  DELIVERY_BREAKER_MAX_OPEN_MS: envOptionalInt({ min: 100, max: 3_600_000 }),
  DELIVERY_BREAKER_FAILURE_PERCENT: envInt({ default: 50, min: 1, max: 100 }),
  DELIVERY_BREAKER_MIN_REQUESTS: envInt({ default: 20, min: 1, max: 1_000_000 }),
  DELIVERY_MAX_IN_FLIGHT_PER_ORIGIN: envInt({ default: 10, min: 1, max: 1_000 }),
  WORKER_HEARTBEAT_INTERVAL_MS: envInt({ default: 5_000, min: 100, max: 600_000 }),
  WORKER_HEARTBEAT_DEGRADED_MS: envInt({ default: 15_000, min: 100, max: 3_600_000 }),
  WORKER_HEARTBEAT_DEAD_MS: envInt({ default: 120_000, min: 100, max: 86_400_000 }),
  RECONCILE_INTERVAL_MS: envInt({ default: 5_000, min: 100, max: 600_000 }),
  RECONCILE_FIRST_POLL_DELAY_MS: envInt({ default: 10_000, min: 100, max: 3_600_000 }),
  RECONCILE_MAX_POLL_DELAY_MS: envInt({ default: 300_000, min: 100, max: 86_400_000 }),
  RECONCILE_GATEWAY_SILENCE_MS: envInt({ default: 15_000, min: 100, max: 3_600_000 }),
});

/** Validated, frozen worker settings. */
export type WorkerConfig = Readonly<z.output<typeof workerSettingsSchema>>;

/** Parses the environment once; throws a `SettingsError` naming every bad variable. */
export function loadWorkerConfig(env: Readonly<Record<string, string | undefined>>): WorkerConfig {
  return parseSettings(workerSettingsSchema, env, {
    ownedPrefixes: OWNED_PREFIXES,
    alsoKnown: SETTING_NAMES,
    check: (settings: z.output<typeof workerSettingsSchema>) => [
      ...checkWebhookUrlEnv(settings, {
        callbackPathReserve: callbackPathReserveFor(storePartitionsOf(settings)),
      }),
      ...checkNotifySettings(settings),
      ...checkWorkerPartitions(settings),
      ...checkRedisTarget(settings),
      ...(settings.DELIVERY_BREAKER_MAX_OPEN_MS !== undefined &&
      settings.DELIVERY_BREAKER_MAX_OPEN_MS < settings.DELIVERY_BREAKER_OPEN_MS
        ? [
            `DELIVERY_BREAKER_MAX_OPEN_MS: must be at least DELIVERY_BREAKER_OPEN_MS (${settings.DELIVERY_BREAKER_OPEN_MS}), got ${settings.DELIVERY_BREAKER_MAX_OPEN_MS}`,
          ]
        : []),
    ],
  });
}

/** A `WORKER_PARTITIONS` item (`7` or `0-7`) as its first and last partition. */
function partitionRange(item: string): [from: number, to: number] {
  const [from = 0, to = from] = item.split('-').map(Number);
  return [from, to];
}

/** The partitions a worker consumes: `WORKER_PARTITIONS`, or every one. */
export function workerPartitionsOf(
  config: Pick<WorkerConfig, 'WORKER_PARTITIONS' | 'STORE_PARTITIONS' | 'REDIS_CLUSTER_NODES'>,
): number[] {
  const count = storePartitionsOf(config);
  if (config.WORKER_PARTITIONS.length === 0) return [...Array(count).keys()];
  const chosen = new Set<number>();
  for (const item of config.WORKER_PARTITIONS) {
    const [from, to] = partitionRange(item);
    for (let partition = from; partition <= to; partition++) chosen.add(partition);
  }
  return [...chosen].sort((a, b) => a - b);
}

function checkWorkerPartitions(
  config: Pick<WorkerConfig, 'WORKER_PARTITIONS' | 'STORE_PARTITIONS' | 'REDIS_CLUSTER_NODES'>,
): string[] {
  const count = storePartitionsOf(config);
  const problems: string[] = [];
  for (const item of config.WORKER_PARTITIONS) {
    const [from, to] = partitionRange(item);
    if (from > to) problems.push(`WORKER_PARTITIONS: ${item} is a range from high to low`);
    else if (to >= count) {
      problems.push(
        `WORKER_PARTITIONS: ${item} past the ${count} partitions (0-${count - 1}) of STORE_PARTITIONS`,
      );
    }
  }
  return problems;
}

/** The circuit breakers' settings (`DELIVERY_BREAKER_*`). */
export function breakerOptions(config: WorkerConfig): Required<BreakerOptions> {
  return {
    consecutiveFailures: config.DELIVERY_BREAKER_FAILURES,
    failureRatio: config.DELIVERY_BREAKER_FAILURE_PERCENT / 100,
    minimumRequests: config.DELIVERY_BREAKER_MIN_REQUESTS,
    // The window of the ratio is a minute, as documented.
    windowMs: 60_000,
    openMs: config.DELIVERY_BREAKER_OPEN_MS,
    maxOpenMs:
      config.DELIVERY_BREAKER_MAX_OPEN_MS ?? Math.max(300_000, config.DELIVERY_BREAKER_OPEN_MS),
  };
}
