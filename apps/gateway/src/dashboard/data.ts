import { readRedisMemory } from '@callback-gateway/runtime';
import {
  HISTORY_BUCKET_MS,
  HISTORY_COARSE_BUCKET_MS,
  destinationLabel,
  latencyQuantile,
  oldestWaitingSeconds,
  readBreakers,
  readDestinationActivity,
  readHistory,
  type BreakerRecord,
  type DeliveryState,
  type HistoryMinute,
  DELIVERY_STATES,
  readAcrossPartitions,
} from '@callback-gateway/store';
import type { GatewayContext } from '../context.js';
import { STATUS_CONDITIONS, evaluateStatus, type StatusInputs } from './status.js';

/** A process whose heartbeat is this recent is alive. */
export const ALIVE_WITHIN_MS = 30_000;
/** Deliveries per state the destinations table reads (newest first): it stays fast with
 * thousands waiting; beyond, the counts say "at least". */
export const DESTINATION_SCAN_MAX = 5_000;

const windowOf = (id: string) =>
  (STATUS_CONDITIONS.find((condition) => condition.id === id)?.windowSeconds ?? 0) * 1000;

/** Sums the minutes of a history that started within `windowMs` of `now`. */
function sumSince(minutes: HistoryMinute[], now: number, windowMs: number) {
  const from = now - windowMs;
  const recent = minutes.filter((minute) => minute.at + HISTORY_BUCKET_MS > from);
  const total = (pick: (minute: HistoryMinute) => number) =>
    recent.reduce((sum, minute) => sum + pick(minute), 0);
  const rejected: Record<string, number> = {};
  for (const minute of recent) {
    for (const [reason, count] of Object.entries(minute.rejected)) {
      rejected[reason] = (rejected[reason] ?? 0) + count;
    }
  }
  return { total, rejected };
}

/** The status banner's inputs and the figures around it. */
export async function dashboardSummary(context: GatewayContext, now: number) {
  const { redis, keys, deliveries } = context;
  const status = context.webhookUrl()?.status();
  const publicUrl = {
    base_url: status?.current?.baseUrl ?? null,
    source: status?.current?.source ?? null,
    verified_by: status?.current?.verifiedBy ?? null,
    tunnel: status?.tunnel ?? null,
    last_failure: status?.lastFailure?.message ?? null,
  };
  const reachable = await redis.ping().then(
    () => true,
    () => false,
  );
  const base: StatusInputs = {
    redisReachable: reachable,
    liveWorkers: 0,
    liveGateways: 0,
    // Local-only mode issues loopback URLs on purpose: not a missing public URL.
    publicUrlVerified: publicUrl.base_url !== null || context.localOnlyBaseUrl?.() !== undefined,
    tunnel: publicUrl.tunnel,
    breakersOpen: 0,
    deadLetters: 0,
    overdue: 0,
    oldestWaitingSeconds: 0,
    attemptsOk: 0,
    attemptsFailed: 0,
    registeredRecently: 0,
    acceptedRecently: 0,
    redisMemoryUsed: 0,
    redisMemoryMax: 0,
  };
  if (!reachable) {
    return {
      generated_at: new Date(now).toISOString(),
      status: evaluateStatus(base),
      public_url: publicUrl,
      redis: false,
    };
  }
  const [
    stateCounts,
    queueCounts,
    overdueSet,
    gateways,
    workers,
    oldest,
    breakers,
    minutes,
    memory,
  ] = await Promise.all([
    Promise.all(
      DELIVERY_STATES.map(async (state) => [state, await deliveries.countByState(state)] as const),
    ),
    Promise.all(
      context.deliveryQueues.map((queue) =>
        queue.getJobCounts('waiting', 'delayed', 'active', 'prioritized'),
      ),
    )
      .then((each) => {
        const sum: Record<string, number> = {};
        for (const counts of each) {
          for (const [state, count] of Object.entries(counts))
            sum[state] = (sum[state] ?? 0) + count;
        }
        return sum;
      })
      .catch(() => ({}) as Record<string, number>),
    readAcrossPartitions(redis, keys, (own) => own.overdue, 20),
    redis.zcount(keys.gateways, now - ALIVE_WITHIN_MS, '+inf'),
    redis.zcount(keys.workers, now - ALIVE_WITHIN_MS, '+inf'),
    oldestWaitingSeconds(context.deliveryQueues, redis, keys, now).catch(() => 0),
    readBreakers(redis, keys),
    readHistory(redis, keys, now - 60 * 60_000, now),
    readRedisMemory(redis),
  ]);
  const fullest = memory
    .filter((node) => node.max > 0)
    .sort((a, b) => b.used / b.max - a.used / a.max)[0];
  const counts = Object.fromEntries(stateCounts) as Record<DeliveryState, number>;
  const attempts = sumSince(minutes, now, windowOf('failure_ratio'));
  const recent = sumSince(minutes, now, windowOf('no_callbacks'));
  const lastHour = sumSince(minutes, now, 60 * 60_000);
  const inputs: StatusInputs = {
    ...base,
    liveWorkers: workers,
    liveGateways: gateways,
    breakersOpen: breakers.length,
    deadLetters: counts.dead_lettered,
    overdue: overdueSet.total,
    oldestWaitingSeconds: oldest,
    attemptsOk: attempts.total((m) => m.counters.attempt_ok),
    attemptsFailed: attempts.total((m) => m.counters.attempt_failed),
    registeredRecently: recent.total((m) => m.counters.registered),
    acceptedRecently: recent.total((m) => m.counters.received + m.counters.duplicate),
    redisMemoryUsed: fullest?.used ?? 0,
    redisMemoryMax: fullest?.max ?? 0,
  };
  const overdue = (
    await Promise.all(overdueSet.ids.map((id) => context.registrations.get(id)))
  ).flatMap((entry) =>
    entry
      ? [
          {
            id: entry.id,
            deliver_to: destinationLabel(entry.deliverTo),
            parse_job_id: entry.parseJobId ?? null,
            expect_callback_by: entry.expectCallbackBy,
          },
        ]
      : [],
  );
  const deadLetters = await deliveries.listByState('dead_lettered', 20);
  const destinationsOf = await destinationsByRegistration(
    context,
    deadLetters.map((d) => d.registrationId),
  );
  return {
    generated_at: new Date(now).toISOString(),
    status: evaluateStatus(inputs),
    redis: true,
    public_url: publicUrl,
    deliveries: counts,
    queue: {
      waiting: (queueCounts['waiting'] ?? 0) + (queueCounts['prioritized'] ?? 0),
      delayed: queueCounts['delayed'] ?? 0,
      active: queueCounts['active'] ?? 0,
      oldest_waiting_s: Math.round(oldest),
    },
    processes: { gateways, workers },
    last_hour: {
      received: lastHour.total((m) => m.counters.received),
      delivered: lastHour.total((m) => m.counters.delivered),
      retried: lastHour.total((m) => m.counters.retried),
      dead_lettered: lastHour.total((m) => m.counters.dead_lettered),
      rejected: lastHour.rejected,
    },
    breakers: breakers.map(breakerJson),
    overdue: { total: overdueSet.total, registrations: overdue },
    dead_letters: {
      total: counts.dead_lettered,
      items: deadLetters.map((delivery) => ({
        id: delivery.id,
        registration_id: delivery.registrationId,
        destination: destinationsOf.get(delivery.registrationId) ?? null,
        event_type: delivery.eventType ?? delivery.format,
        attempts: delivery.attempts,
        last_error: delivery.lastError ?? null,
        received_at: delivery.receivedAt,
      })),
    },
  };
}

const breakerJson = (breaker: BreakerRecord) => ({
  level: breaker.level,
  destination: breaker.label,
  origin: breaker.origin,
  state: breaker.state,
  since: new Date(breaker.since).toISOString(),
  reason: breaker.reason,
});

/** Each registration's destination label (`deliver_to` without its query), in one pipeline
 * per partition (on a Redis Cluster a pipeline goes to one node). */
async function destinationsByRegistration(context: GatewayContext, ids: readonly string[]) {
  const byPartition = new Map<number, string[]>();
  for (const id of new Set(ids)) {
    const partition = context.keys.of(id).partition;
    const group = byPartition.get(partition);
    if (group) group.push(id);
    else byPartition.set(partition, [id]);
  }
  const out = new Map<string, string>();
  await Promise.all(
    [...byPartition.values()].map(async (group) => {
      const pipeline = context.redis.pipeline();
      for (const id of group) pipeline.hget(context.keys.registration(id), 'deliver_to');
      const results = (await pipeline.exec()) ?? [];
      group.forEach((id, i) => {
        const url = results[i]?.[1];
        if (typeof url !== 'string') return;
        try {
          out.set(id, destinationLabel(url));
        } catch {
          // Not a URL: not shown under a destination.
        }
      });
    }),
  );
  return out;
}

/** Delivery ids in a state with their destinations (newest {@link DESTINATION_SCAN_MAX}). */
async function deliveriesByDestination(context: GatewayContext, state: DeliveryState) {
  const found = await context.deliveries.destinationsByState(state, DESTINATION_SCAN_MAX);
  const labels = new Map<string, string>();
  const labelOf = (url: string | undefined) => {
    if (url === undefined) return '(expired registration)';
    let label = labels.get(url);
    if (label === undefined) {
      try {
        label = destinationLabel(url);
      } catch {
        label = '(not a URL)';
      }
      labels.set(url, label);
    }
    return label;
  };
  return {
    truncated: found.length === DESTINATION_SCAN_MAX,
    entries: found.map(({ id, deliverTo }) => ({ id, destination: labelOf(deliverTo) })),
  };
}

/** One row of the destinations table. */
export interface DestinationRow {
  destination: string;
  state: 'healthy' | 'failing' | 'breaker_open' | 'held';
  breaker: string | null;
  success_rate_15m: number | null;
  attempts_15m: number;
  in_flight: number;
  waiting: number;
  dead_letters: number;
  last_error: string | null;
  last_error_at: string | null;
  last_success_at: string | null;
}

/** The destinations table: every destination with deliveries, recent attempts or a breaker. */
export async function dashboardDestinations(context: GatewayContext, now: number) {
  const [inFlight, queued, retrying, dead, activity, breakers] = await Promise.all([
    deliveriesByDestination(context, 'delivering'),
    deliveriesByDestination(context, 'queued'),
    deliveriesByDestination(context, 'retrying'),
    deliveriesByDestination(context, 'dead_lettered'),
    readDestinationActivity(context.redis, context.keys, now),
    readBreakers(context.redis, context.keys),
  ]);
  const rows = new Map<string, DestinationRow>();
  const row = (destination: string) => {
    let entry = rows.get(destination);
    if (!entry) {
      entry = {
        destination,
        state: 'healthy',
        breaker: null,
        success_rate_15m: null,
        attempts_15m: 0,
        in_flight: 0,
        waiting: 0,
        dead_letters: 0,
        last_error: null,
        last_error_at: null,
        last_success_at: null,
      };
      rows.set(destination, entry);
    }
    return entry;
  };
  for (const { destination } of inFlight.entries) row(destination).in_flight++;
  for (const { destination } of [...queued.entries, ...retrying.entries])
    row(destination).waiting++;
  for (const { destination } of dead.entries) row(destination).dead_letters++;
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
  for (const [destination, seen] of activity) {
    const entry = row(destination);
    entry.attempts_15m = seen.ok + seen.failed;
    entry.success_rate_15m = entry.attempts_15m === 0 ? null : seen.ok / entry.attempts_15m;
    entry.last_error = seen.lastError ?? null;
    entry.last_error_at = iso(seen.lastErrorAt);
    entry.last_success_at = iso(seen.lastSuccessAt);
    const lastFailed = (seen.lastErrorAt ?? 0) > (seen.lastSuccessAt ?? 0);
    if (seen.failed > 0 && lastFailed) entry.state = 'failing';
  }
  const heldOrigins = new Set(
    breakers.filter((b) => b.level === 'origin').map((breaker) => breaker.origin),
  );
  for (const breaker of breakers.filter((b) => b.level === 'destination')) {
    const entry = row(breaker.label);
    entry.state = 'breaker_open';
    entry.breaker = breaker.state;
  }
  for (const entry of rows.values()) {
    if (entry.state !== 'breaker_open' && heldOrigins.has(originOf(entry.destination))) {
      entry.state = 'held';
      entry.breaker = 'origin open';
    }
  }
  const rank = { breaker_open: 0, held: 1, failing: 2, healthy: 3 } as const;
  return {
    generated_at: new Date(now).toISOString(),
    counted_from_newest: DESTINATION_SCAN_MAX,
    truncated: inFlight.truncated || queued.truncated || retrying.truncated || dead.truncated,
    destinations: [...rows.values()]
      .sort(
        (a, b) =>
          rank[a.state] - rank[b.state] ||
          b.dead_letters - a.dead_letters ||
          a.destination.localeCompare(b.destination),
      )
      .slice(0, 500),
  };
}

function originOf(label: string) {
  try {
    return new URL(label).origin;
  } catch {
    return '';
  }
}

/** Dead letters of one destination (by its label), newest first. */
export async function deadLettersOf(context: GatewayContext, destination: string) {
  const dead = await deliveriesByDestination(context, 'dead_lettered');
  return dead.entries.filter((entry) => entry.destination === destination).map(({ id }) => id);
}

/** Charts: per minute over the last hour, per ten minutes over 24 hours, as columns (uPlot's
 * data layout). */
export async function dashboardHistory(context: GatewayContext, now: number, hours: 1 | 24) {
  const span = hours === 1 ? HISTORY_BUCKET_MS : HISTORY_COARSE_BUCKET_MS;
  const minutes = await readHistory(
    context.redis,
    context.keys,
    now - hours * 3_600_000,
    now,
    span,
  );
  const column = (pick: (minute: HistoryMinute) => number | undefined | null) =>
    minutes.map((minute) => pick(minute) ?? null);
  return {
    generated_at: new Date(now).toISOString(),
    bucket_s: span / 1000,
    at: minutes.map((minute) => minute.at / 1000),
    received: column((m) => m.counters.received),
    delivered: column((m) => m.counters.delivered),
    retried: column((m) => m.counters.retried),
    dead_lettered: column((m) => m.counters.dead_lettered),
    rejected: column((m) => Object.values(m.rejected).reduce((sum, n) => sum + n, 0)),
    latency_p50_ms: column((m) => latencyQuantile(m.latency, 0.5)),
    latency_p99_ms: column((m) => latencyQuantile(m.latency, 0.99)),
    oldest_waiting_s: column((m) => m.oldestWaitingSeconds),
  };
}
