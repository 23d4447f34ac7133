import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import {
  AUDIT_SCHEMA_VERSION,
  auditEventSchema,
  type AuditEvent,
  type AuditEventInput,
  type AuditEventType,
} from '@callback-gateway/audit';
import type { Clock } from '@callback-gateway/runtime';
import { pino, type Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Webhook } from 'standardwebhooks';

/** One request a receiver got. */
export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The parsed body. */
  json: Record<string, unknown>;
}

/** A real HTTP server on 127.0.0.1 standing in for a notification target. */
export interface Receiver {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Every request, in order (answered or not). */
  received: Received[];
  /** Requests that passed the receiver's check (signature, or Slack shape). */
  accepted: Received[];
  /** Problems found in requests (bad signature, wrong shape). */
  problems: string[];
  waitFor(count: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

/** Answers a request: a status, or 0 to never answer (the sender must time out). */
export type Answer = (index: number) => number;

async function startReceiver(
  check: (received: Received) => string | undefined,
  answer: Answer,
): Promise<Receiver> {
  const received: Received[] = [];
  const accepted: Received[] = [];
  const problems: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        problems.push(`not JSON: ${body.slice(0, 100)}`);
      }
      const entry: Received = { path: req.url ?? '', headers: req.headers, body, json };
      received.push(entry);
      const problem = check(entry);
      if (problem) problems.push(problem);
      else accepted.push(entry);
      const status = answer(received.length - 1);
      if (status === 0) return;
      res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    accepted,
    problems,
    async waitFor(count, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count) {
        if (Date.now() > deadline) {
          throw new Error(`expected ${count} requests, got ${received.length} in ${timeoutMs} ms`);
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return received;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A fresh Standard Webhooks secret. */
export function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/**
 * A receiver of the signed JSON webhook: it verifies every request with `standardwebhooks`
 * (`Webhook#verify`, which also checks the timestamp tolerance) and the body's fields.
 */
export function startWebhookReceiver(secret: string, answer: Answer = () => 200) {
  const webhook = new Webhook(secret);
  return startReceiver((received) => {
    try {
      webhook.verify(received.body, {
        'webhook-id': String(received.headers['webhook-id']),
        'webhook-timestamp': String(received.headers['webhook-timestamp']),
        'webhook-signature': String(received.headers['webhook-signature']),
      });
    } catch (error) {
      return `bad signature: ${(error as Error).message}`;
    }
    const body = received.json;
    const keys = [
      'type',
      'severity',
      'title',
      'text',
      'condition_key',
      'first_seen_at',
      'at',
      'details',
      'source',
    ];
    const missing = keys.filter((key) => !(key in body));
    if (missing.length > 0) return `missing fields: ${missing.join(', ')}`;
    if (!/^operational\.[a-z_]+\.(opened|recovered|fact)$/.test(String(body['type']))) {
      return `bad type ${String(body['type'])}`;
    }
    if (!['critical', 'warning', 'info'].includes(String(body['severity']))) return 'bad severity';
    return undefined;
  }, answer);
}

/** A Slack incoming-webhook stand-in: checks `{ text, blocks: [section(mrkdwn), context] }`. */
export function startSlackReceiver(answer: Answer = () => 200) {
  return startReceiver((received) => {
    const body = received.json as {
      text?: unknown;
      blocks?: { type?: unknown; text?: { type?: unknown; text?: unknown }; elements?: unknown }[];
    };
    if (typeof body.text !== 'string' || body.text.length === 0) return 'no text';
    const [section, context] = body.blocks ?? [];
    if (section?.type !== 'section' || section.text?.type !== 'mrkdwn') return 'no mrkdwn section';
    if (typeof section.text.text !== 'string') return 'section without text';
    if (context?.type !== 'context' || !Array.isArray(context.elements)) return 'no context line';
    return undefined;
  }, answer);
}

/** A logger whose lines are kept (no redaction: what the notifier itself writes). */
export function captureLogger(): { logger: Logger; lines: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString('utf8'));
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines: () => chunks.join('') };
}

/** A clock moved by hand; its timers fire when `advance` passes them. */
export function manualClock(start = Date.now()): Clock & { advance(ms: number): void } {
  interface Timer {
    at: number;
    every: number | undefined;
    callback: () => void;
  }
  let now = start;
  const timers = new Set<Timer>();
  const arm = (callback: () => void, ms: number, every?: number): Timer => {
    const timer = { at: now + ms, every, callback };
    timers.add(timer);
    return timer;
  };
  const clear = (handle: unknown) => {
    timers.delete(handle as Timer);
  };
  return {
    now: () => now,
    setTimeout: (callback, ms) => arm(callback, ms),
    clearTimeout: clear,
    setInterval: (callback, ms) => arm(callback, ms, Math.max(1, ms)),
    clearInterval: clear,
    advance(ms) {
      now += ms;
      for (const timer of [...timers].sort((a, b) => a.at - b.at)) {
        if (timer.at > now) continue;
        if (timer.every === undefined) timers.delete(timer);
        else timer.at += timer.every;
        timer.callback();
      }
    },
  };
}

let sequence = 0;

/** A valid audit event, as the audit log hands it to sinks. */
export function auditEvent<T extends AuditEventType>(input: AuditEventInput<T>): AuditEvent<T> {
  return auditEventSchema.parse({
    v: AUDIT_SCHEMA_VERSION,
    id: `test-${++sequence}`,
    at: (input.at ?? new Date()).toISOString(),
    type: input.type,
    actor: input.actor ?? { kind: 'system', id: 'worker' },
    correlation: input.correlation ?? {},
    data: input.data,
  }) as AuditEvent<T>;
}

/** `cbgw_notifications_total` by `target_kind/outcome`. */
export async function outcomes(registry: Registry): Promise<Record<string, number>> {
  const metric = registry.getSingleMetric('cbgw_notifications_total');
  if (!metric) return {};
  const { values } = await metric.get();
  return Object.fromEntries(
    values.map((value) => [
      `${value.labels['target_kind']}/${value.labels['outcome']}`,
      value.value,
    ]),
  );
}

/** Polls `condition` until it holds. */
export async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
