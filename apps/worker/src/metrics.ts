import type { DeliveryStore } from '@callback-gateway/store';
import type { Queue } from 'bullmq';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { DestinationGuard } from './delivery/destination-guard.js';

/** What the scrape-time gauges read. */
export interface WorkerGaugeSources {
  /** Every partition's delivery queue. */
  queues: readonly Queue[];
  deliveries: DeliveryStore;
  guard: DestinationGuard;
  /** Entries waiting in the ingest stream (not yet in the queue). */
  ingestBacklog: () => Promise<number>;
  /** Age (s) of the oldest callback waiting to be delivered now (see `oldestWaitingSeconds`). */
  oldestWaiting: () => Promise<number>;
}

/** The worker's metrics (`cbgw_` prefix). Gauges are read when Prometheus scrapes. */
export function createWorkerMetrics(
  registry: Registry,
  sources: () => WorkerGaugeSources | undefined,
) {
  const registers = [registry];
  const quietly = async (work: () => Promise<void>) => {
    try {
      await work();
    } catch {
      // Redis away: the gauges keep their last values; /readyz tells the story.
    }
  };
  return {
    deliveries: new Counter({
      name: 'cbgw_deliveries_total',
      help: 'Delivery outcomes: delivered, retry (an attempt failed and will be retried), dead_lettered.',
      labelNames: ['outcome'],
      registers,
    }),
    attempts: new Counter({
      name: 'cbgw_delivery_attempts_total',
      help: 'Delivery attempts by result: 2xx, 3xx, 4xx, 5xx, network_error, refused.',
      labelNames: ['result'],
      registers,
    }),
    attemptDuration: new Histogram({
      name: 'cbgw_delivery_attempt_duration_seconds',
      help: 'Duration of one delivery attempt (request to the pipeline).',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    endToEnd: new Histogram({
      name: 'cbgw_delivery_end_to_end_seconds',
      help: "From the parser's callback received to the pipeline's 2xx.",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120, 600, 3600],
      registers,
    }),
    queueDepth: new Gauge({
      name: 'cbgw_delivery_queue_jobs',
      help: 'Jobs in the delivery queue, by state (waiting, delayed, active); a job carries up to WORKER_CONCURRENCY deliveries.',
      labelNames: ['state'],
      registers,
      async collect() {
        const current = sources();
        if (!current) return;
        await quietly(async () => {
          const counts: Record<string, number> = {};
          for (const each of await Promise.all(
            current.queues.map((queue) =>
              queue.getJobCounts('waiting', 'delayed', 'active', 'prioritized'),
            ),
          )) {
            for (const [state, count] of Object.entries(each)) {
              counts[state] = (counts[state] ?? 0) + count;
            }
          }
          this.set({ state: 'waiting' }, (counts['waiting'] ?? 0) + (counts['prioritized'] ?? 0));
          this.set({ state: 'delayed' }, counts['delayed'] ?? 0);
          this.set({ state: 'active' }, counts['active'] ?? 0);
        });
      },
    }),
    oldestWaiting: new Gauge({
      name: 'cbgw_delivery_oldest_waiting_seconds',
      help: 'Age of the oldest callback waiting to be delivered now: still in the ingest stream, or in a job waiting (not delayed); 0 when none.',
      registers,
      async collect() {
        const current = sources();
        if (!current) return;
        await quietly(async () => {
          this.set(await current.oldestWaiting());
        });
      },
    }),
    ingestBacklog: new Gauge({
      name: 'cbgw_ingest_backlog',
      help: 'Stored callbacks not yet handed to the delivery queue.',
      registers,
      async collect() {
        const current = sources();
        if (!current) return;
        await quietly(async () => this.set(await current.ingestBacklog()));
      },
    }),
    deadLetters: new Gauge({
      name: 'cbgw_dead_letters',
      help: 'Deliveries dead-lettered and not replayed.',
      registers,
      async collect() {
        const current = sources();
        if (!current) return;
        await quietly(async () => this.set(await current.deliveries.countByState('dead_lettered')));
      },
    }),
    breakerOpen: new Gauge({
      name: 'cbgw_breaker_state',
      help: 'Circuit breakers not closed (1 while in that state): a destination (origin and path) or a whole origin (level="origin", destination = the origin).',
      labelNames: ['origin', 'destination', 'level', 'state'],
      registers,
      collect() {
        const current = sources();
        if (!current) return;
        this.reset();
        for (const { origin, label, level, state } of current.guard.notClosed())
          this.set({ origin, destination: label, level, state }, 1);
      },
    }),
    held: new Counter({
      name: 'cbgw_delivery_held_total',
      help: 'Deliveries held without an attempt, by what held them: breaker_destination, breaker_origin, or origin_full (DELIVERY_MAX_IN_FLIGHT_PER_ORIGIN in flight there).',
      labelNames: ['by'],
      registers,
    }),
    breakerTransitions: new Counter({
      name: 'cbgw_breaker_transitions_total',
      help: 'Circuit breaker state changes, by new state and level (destination or origin).',
      labelNames: ['to', 'level'],
      registers,
    }),
    deliveriesRecovered: new Counter({
      name: 'cbgw_deliveries_recovered_total',
      help: 'Deliveries that had lost the job owning them (a Redis failover) and got it back.',
      registers,
    }),
  };
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;
