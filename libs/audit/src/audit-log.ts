import { randomUUID } from 'node:crypto';
import { Counter, Gauge, type Registry } from 'prom-client';
import {
  AUDIT_SCHEMA_VERSION,
  eventSchemas,
  type Actor,
  type AuditEvent,
  type AuditEventInput,
  type AuditEventType,
} from './events.js';
import type { Logger } from './logger.js';
import { createRedactor } from './redact.js';

/** A sink wrote part of a batch: the events it names were not written (the others were). */
export class AuditPartialWriteError extends Error {
  constructor(
    readonly unwritten: readonly AuditEvent[],
    cause: unknown,
  ) {
    super(
      `${unwritten.length} audit events not written: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.name = 'AuditPartialWriteError';
  }
}

/** Where audit events go. A sink may fail; the audit log buffers and retries for it. */
export interface AuditSink {
  /** A short name for metrics and logs (`log`, `redis`). */
  readonly name: string;
  /** Writes a batch. Rejects when nothing of the batch was written, or with an
   * {@link AuditPartialWriteError} naming what was not (only that is retried). */
  write(events: readonly AuditEvent[]): Promise<void> | void;
  /** The durable store (Redis): skipped by {@link AuditLog.publish}, for events a store script
   * wrote there itself. */
  readonly store?: boolean;
}

/** Records audit events. `record()` never throws and never waits. */
export interface AuditLog {
  /** Validates, redacts and hands the event to every sink. Returns the recorded event, or
   * `undefined` when the input was invalid (counted and logged, never thrown). */
  record<T extends AuditEventType>(input: AuditEventInput<T>): AuditEvent<T> | undefined;
  /**
   * Validates and redacts an event without recording it, for a store script that writes it to
   * Redis in the same call as the state change it describes (one round trip, one record). Hand
   * it to {@link publish} once that call wrote it; a prepared event never published is not
   * recorded anywhere. `undefined` when the input was invalid (counted and logged).
   */
  prepare<T extends AuditEventType>(input: AuditEventInput<T>): AuditEvent<T> | undefined;
  /** Records a prepared event whose Redis copy a store script wrote: counted, and handed to
   * every sink but the store (the log, the notifier). */
  publish(event: AuditEvent): void;
}

/** Options for {@link createAuditLog}. */
export interface CreateAuditLogOptions {
  /** Used when an event names no actor, e.g. `{ kind: 'system', id: 'gateway' }`. */
  actor: Actor;
  sinks: readonly AuditSink[];
  /** Where sink failures are reported (once per burst). */
  logger: Logger;
  /** prom-client registry for `cbgw_audit_*` metrics. */
  registry?: Registry;
  /** @defaultValue `() => new Date()` */
  now?: () => Date;
  /** Secret values from configuration, masked wherever they appear in an event. */
  knownSecrets?: readonly (string | undefined)[];
  /**
   * Events kept per sink while it is failing; past that the oldest are dropped and counted.
   * @defaultValue 10_000
   */
  maxBuffered?: number;
  /**
   * Longest wait between retries of a failing sink.
   * @defaultValue 5_000
   */
  maxRetryDelayMs?: number;
  /**
   * How long events gather before a write to the sinks (0: at the end of the current turn of
   * the event loop). At event rates, a short wait turns many small writes into a few large
   * ones; each write costs a system call and a round trip whatever its size.
   * @defaultValue 0
   */
  flushDelayMs?: number;
}

/** An {@link AuditLog} that owns its sinks' buffers. */
export interface ManagedAuditLog extends AuditLog {
  /** Waits until every buffered event was written or `timeoutMs` passed; resolves to the
   * number of events still buffered. */
  flush(timeoutMs?: number): Promise<number>;
  /** Flushes (bounded by `timeoutMs`), then stops retrying. Idempotent. Sinks are borrowed:
   * closing their connections is their owner's job. */
  close(timeoutMs?: number): Promise<void>;
}

interface SinkState {
  sink: AuditSink;
  buffer: AuditEvent[];
  writing: boolean;
  failing: boolean;
  failuresInBurst: number;
  droppedInBurst: number;
  retryDelayMs: number;
  retryTimer: NodeJS.Timeout | undefined;
}

function metrics(registry: Registry | undefined) {
  const registers = registry ? [registry] : [];
  return {
    recorded: new Counter({
      name: 'cbgw_audit_events_total',
      help: 'Audit events recorded, by type.',
      labelNames: ['type'],
      registers,
    }),
    invalid: new Counter({
      name: 'cbgw_audit_events_invalid_total',
      help: 'Audit events refused by the schema (a bug in the caller).',
      registers,
    }),
    sinkFailures: new Counter({
      name: 'cbgw_audit_sink_failures_total',
      help: 'Failed batch writes to an audit sink.',
      labelNames: ['sink'],
      registers,
    }),
    dropped: new Counter({
      name: 'cbgw_audit_events_dropped_total',
      help: 'Audit events dropped because a failing sink buffer was full.',
      labelNames: ['sink'],
      registers,
    }),
    buffered: new Gauge({
      name: 'cbgw_audit_sink_buffered',
      help: 'Audit events waiting to be written to a sink.',
      labelNames: ['sink'],
      registers,
    }),
  };
}

/**
 * Creates the audit log. Recording is synchronous and cheap: the event is validated, redacted
 * and queued; sinks are written in batches after the current tick. A failing sink never makes
 * `record()` fail: its events wait in a bounded buffer and are retried with capped backoff, the
 * failure is counted in `cbgw_audit_sink_failures_total` and logged once per burst.
 */
export function createAuditLog(options: CreateAuditLogOptions): ManagedAuditLog {
  const now = options.now ?? (() => new Date());
  const maxBuffered = options.maxBuffered ?? 10_000;
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 5_000;
  const m = metrics(options.registry);
  const { redact } = createRedactor({ knownSecrets: options.knownSecrets });
  const log = options.logger;
  const states: SinkState[] = options.sinks.map((sink) => ({
    sink,
    buffer: [],
    writing: false,
    failing: false,
    failuresInBurst: 0,
    droppedInBurst: 0,
    retryDelayMs: 100,
    retryTimer: undefined,
  }));
  let scheduled = false;
  let closed = false;
  // The counter's child per type, looked up once (no label hashing per event).
  const recordedByType = new Map<string, { inc(): void }>();
  const recordedOf = (type: string) => {
    let child = recordedByType.get(type);
    if (!child) {
      child = m.recorded.labels({ type });
      recordedByType.set(type, child);
    }
    return child;
  };
  let invalidLogged = false;

  const drain = async (state: SinkState): Promise<void> => {
    if (state.writing || state.buffer.length === 0 || state.retryTimer) return;
    state.writing = true;
    // The buffer's head, taken whole when it is short (no copy per write at event rates).
    const whole = state.buffer.length <= 500;
    const batch = whole ? state.buffer : state.buffer.slice(0, 500);
    if (whole) state.buffer = [];
    try {
      await state.sink.write(batch);
      if (!whole) state.buffer.splice(0, batch.length);
      if (state.failing) {
        log.info(
          {
            sink: state.sink.name,
            failures: state.failuresInBurst,
            dropped: state.droppedInBurst,
          },
          `audit sink "${state.sink.name}" recovered after ${state.failuresInBurst} failed writes (${state.droppedInBurst} events dropped)`,
        );
      }
      state.failing = false;
      state.failuresInBurst = 0;
      state.droppedInBurst = 0;
      state.retryDelayMs = 100;
    } catch (error) {
      // Not written: back at the head of the buffer, in order, before what came meanwhile
      // (of a batch written in part, only what was not).
      const unwritten = error instanceof AuditPartialWriteError ? [...error.unwritten] : undefined;
      if (whole) state.buffer = (unwritten ?? batch).concat(state.buffer);
      else if (unwritten) state.buffer.splice(0, batch.length, ...unwritten);
      m.sinkFailures.inc({ sink: state.sink.name });
      state.failuresInBurst++;
      if (!state.failing) {
        state.failing = true;
        log.warn(
          { sink: state.sink.name, err: error },
          `audit sink "${state.sink.name}" is failing; events are kept (up to ${maxBuffered}) and retried, further failures are counted in cbgw_audit_sink_failures_total until it recovers`,
        );
      }
      if (!closed) {
        const delay = Math.random() * state.retryDelayMs;
        state.retryDelayMs = Math.min(state.retryDelayMs * 2, maxRetryDelayMs);
        state.retryTimer = setTimeout(() => {
          state.retryTimer = undefined;
          void drain(state);
        }, delay);
        state.retryTimer.unref();
      }
    } finally {
      state.writing = false;
      m.buffered.set({ sink: state.sink.name }, state.buffer.length);
    }
    if (!state.failing && state.buffer.length > 0) await drain(state);
  };

  const flushDelayMs = options.flushDelayMs ?? 0;
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    const run = () => {
      scheduled = false;
      for (const state of states) void drain(state);
    };
    if (flushDelayMs > 0) setTimeout(run, flushDelayMs).unref();
    else setImmediate(run);
  };

  const build = <T extends AuditEventType>(
    input: AuditEventInput<T>,
  ): AuditEvent<T> | undefined => {
    try {
      const candidate = redact({
        v: AUDIT_SCHEMA_VERSION,
        id: randomUUID(),
        at: (input.at ?? now()).toISOString(),
        type: input.type,
        actor: input.actor ?? options.actor,
        correlation: input.correlation ?? {},
        data: input.data,
      });
      const schema = (eventSchemas as Record<string, (typeof eventSchemas)[AuditEventType]>)[
        input.type
      ];
      const parsed = schema
        ? schema.safeParse(candidate)
        : ({ success: false, error: { issues: [{ message: 'unknown event type' }] } } as const);
      if (!parsed.success) {
        m.invalid.inc();
        if (!invalidLogged) {
          invalidLogged = true;
          log.error(
            { type: input.type, issues: parsed.error.issues.slice(0, 5) },
            `audit event "${String(input.type)}" does not match the schema and was not recorded (logged once; counted in cbgw_audit_events_invalid_total)`,
          );
        }
        return undefined;
      }
      return parsed.data as AuditEvent<T>;
    } catch {
      // Recording must never break the operation it describes.
      m.invalid.inc();
      return undefined;
    }
  };

  const enqueue = (event: AuditEvent, storeWritten: boolean): void => {
    recordedOf(event.type).inc();
    if (closed) return;
    for (const state of states) {
      if (storeWritten && state.sink.store) continue;
      state.buffer.push(event);
      if (state.buffer.length > maxBuffered) {
        const excess = state.buffer.length - maxBuffered;
        state.buffer.splice(0, excess);
        state.droppedInBurst += excess;
        m.dropped.inc({ sink: state.sink.name }, excess);
      }
    }
    schedule();
  };

  const record = <T extends AuditEventType>(
    input: AuditEventInput<T>,
  ): AuditEvent<T> | undefined => {
    const event = build(input);
    if (event) enqueue(event, false);
    return event;
  };

  const publish = (event: AuditEvent): void => {
    try {
      enqueue(event, true);
    } catch {
      // As record(): never breaks the operation it describes.
    }
  };

  const flush = async (timeoutMs = 5_000): Promise<number> => {
    const deadline = Date.now() + timeoutMs;
    for (const state of states) void drain(state);
    for (;;) {
      const pending = states.reduce((sum, state) => sum + state.buffer.length, 0);
      const busy = states.some((state) => state.writing);
      if ((pending === 0 && !busy) || Date.now() >= deadline) return pending;
      await new Promise((resolve) => setTimeout(resolve, 10));
      for (const state of states) {
        if (!state.retryTimer) void drain(state);
      }
    }
  };

  let closing: Promise<void> | undefined;
  const close = (timeoutMs = 2_000): Promise<void> => {
    closing ??= (async () => {
      await flush(timeoutMs);
      closed = true;
      for (const state of states) clearTimeout(state.retryTimer);
    })();
    return closing;
  };

  return { record, prepare: build, publish, flush, close };
}
