import type { OutboundPolicy } from '@callback-gateway/outbound';
import { OutboundRefusedError } from '@callback-gateway/outbound';
import type { DeliverableCallback, DeliveryTarget } from '@callback-gateway/store';
import { EventEmitter } from 'node:events';
import { request, type Dispatcher } from 'undici';
import { signStandardWebhook } from './sign.js';

/** Timeouts of one delivery request. */
export interface DeliveryTimeouts {
  /** TCP + TLS connect. Set on the dispatcher (see `createGuardedAgent`). */
  connectMs: number;
  /** Until the response headers arrive. */
  headersMs: number;
  /** The whole request, body included. */
  totalMs: number;
}

/** What one attempt came to. */
export type SendResult =
  | { kind: 'delivered'; status: number; latencyMs: number }
  | {
      kind: 'http_error';
      status: number;
      latencyMs: number;
      retryAfter: string | undefined;
      detail: string;
    }
  | { kind: 'network_error'; latencyMs: number; code: string; detail: string }
  | { kind: 'refused'; latencyMs: number; code: string; detail: string };

/**
 * The JSON envelope a pipeline receives, built around the parser's payload bytes as stored
 * (never re-serialised): `{ type, registration_id, parse_job_id, received_at, format, payload }`.
 */
export function deliveryBody(callback: DeliverableCallback, target: DeliveryTarget): Buffer {
  const type = callback.eventType ?? (callback.format === 'legacy' ? 'parse.result' : 'callback');
  const head = {
    type,
    registration_id: callback.registrationId,
    parse_job_id: callback.jobId ?? target.parseJobId ?? null,
    received_at: callback.receivedAt,
    format: callback.format,
    ...(callback.eventId !== undefined && { event_id: callback.eventId }),
    ...(callback.reconciled && { reconciled: true }),
    ...(target.metadata !== undefined && { metadata: target.metadata }),
  };
  const prefix = `${JSON.stringify(head).slice(0, -1)},"payload":`;
  const body = Buffer.allocUnsafe(Buffer.byteLength(prefix) + callback.payload.length + 1);
  const at = body.write(prefix);
  callback.payload.copy(body, at);
  body[body.length - 1] = 0x7d; // }
  return body;
}

const MAX_ERROR_BODY = 2_048;
/** Of an answer's body, the most read (the excerpt of a failed attempt comes from it). */
const ANSWER_EXCERPT_BYTES = 4_096;
/** ...and for at most this long after the headers: the answer is known by then. */
const ANSWER_BODY_MS = 1_000;

/**
 * The first bytes of an answer's body, as text: at most `maxBytes`, read for at most `maxMs`.
 * The rest is never read: the stream is destroyed (its connection closed) unless it ended, so a
 * pipeline answering a huge or endless body costs neither memory nor a delivery slot.
 */
async function readExcerpt(
  body: Dispatcher.ResponseData['body'],
  maxBytes: number,
  maxMs: number,
): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  const timer = setTimeout(() => body.destroy(), maxMs);
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= maxBytes) break;
    }
  } catch {
    // Destroyed at the deadline, or the connection failed: keep what came.
  } finally {
    clearTimeout(timer);
    if (!body.readableEnded) body.destroy();
  }
  return Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8');
}

/** Drops an answer's body: undici reads up to `maxBytes` (so a short body keeps the connection
 * for the next request) and destroys the stream beyond it, or after `maxMs`. */
async function discard(
  body: Dispatcher.ResponseData['body'],
  maxBytes: number,
  maxMs: number,
): Promise<void> {
  const timer = setTimeout(() => body.destroy(), maxMs);
  try {
    await body.dump({ limit: maxBytes });
  } catch {
    // Destroyed at the deadline, or the connection failed: nothing to keep.
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The whole-request deadline, as the abort signal undici also accepts (an emitter of `abort`):
 * one timer, where `AbortSignal.timeout` costs a signal, a timer and a finalizer per request
 * (more than the rest of a delivery's bookkeeping, measured).
 */
class RequestDeadline extends EventEmitter {
  aborted = false;
  reason: Error | undefined;
  private readonly timer: NodeJS.Timeout;
  constructor(ms: number) {
    super();
    this.timer = setTimeout(() => {
      this.aborted = true;
      this.reason = Object.assign(new Error(`no complete answer within ${ms} ms`), {
        name: 'TimeoutError',
      });
      this.emit('abort');
    }, ms);
  }
  clear(): void {
    clearTimeout(this.timer);
  }
}

const checked = new WeakMap<OutboundPolicy, Map<string, OutboundRefusedError | undefined>>();
/** The policy's verdict on a URL's form, taken once per URL (it depends on nothing else; the
 * addresses a name resolves to are checked again at connect time). */
function checkUrlOnce(policy: OutboundPolicy, url: string): OutboundRefusedError | undefined {
  let verdicts = checked.get(policy);
  if (!verdicts) {
    verdicts = new Map();
    checked.set(policy, verdicts);
  }
  if (verdicts.has(url)) return verdicts.get(url);
  let verdict: OutboundRefusedError | undefined;
  try {
    policy.checkUrl(url);
  } catch (error) {
    if (!(error instanceof OutboundRefusedError)) throw error;
    verdict = error;
  }
  if (verdicts.size >= 10_000) verdicts.clear();
  verdicts.set(url, verdict);
  return verdict;
}

/**
 * POSTs one delivery, signed per Standard Webhooks with the registration's delivery secret.
 * `webhook-id` is the callback id: the same on every retry and replay, so the pipeline can
 * deduplicate. Never throws: every outcome is a {@link SendResult}.
 */
export async function sendDelivery(options: {
  callback: DeliverableCallback;
  target: DeliveryTarget;
  dispatcher: Dispatcher;
  policy: OutboundPolicy;
  timeouts: DeliveryTimeouts;
  now?: () => Date;
}): Promise<SendResult> {
  const { callback, target } = options;
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const refusal = checkUrlOnce(options.policy, target.deliverTo);
  if (refusal)
    return { kind: 'refused', latencyMs: 0, code: refusal.code, detail: refusal.message };
  const body = deliveryBody(callback, target);
  const seconds = Math.floor((options.now ?? (() => new Date()))().getTime() / 1000);
  const signature = signStandardWebhook(target.deliverySecret, callback.id, seconds, body);
  const deadline = new RequestDeadline(options.timeouts.totalMs);
  try {
    const response = await request(target.deliverTo, {
      method: 'POST',
      dispatcher: options.dispatcher,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'callback-gateway/0.1 (+delivery)',
        'webhook-id': callback.id,
        'webhook-timestamp': String(seconds),
        'webhook-signature': signature,
      },
      body,
      headersTimeout: options.timeouts.headersMs,
      bodyTimeout: options.timeouts.totalMs,
      signal: deadline,
    });
    let detail = '';
    if (response.statusCode >= 300) {
      const excerpt = await readExcerpt(response.body, ANSWER_EXCERPT_BYTES, ANSWER_BODY_MS);
      detail = excerpt.slice(0, MAX_ERROR_BODY);
    } else {
      await discard(response.body, ANSWER_EXCERPT_BYTES, ANSWER_BODY_MS);
    }
    if (response.statusCode >= 200 && response.statusCode < 300) {
      return { kind: 'delivered', status: response.statusCode, latencyMs: elapsed() };
    }
    const retryAfter = response.headers['retry-after'];
    return {
      kind: 'http_error',
      status: response.statusCode,
      latencyMs: elapsed(),
      retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
      detail: `HTTP ${response.statusCode}${detail ? `: ${detail.replace(/\s+/g, ' ').slice(0, 300)}` : ''}`,
    };
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause;
    if (error instanceof OutboundRefusedError || cause instanceof OutboundRefusedError) {
      const refusal = (
        error instanceof OutboundRefusedError ? error : cause
      ) as OutboundRefusedError;
      return { kind: 'refused', latencyMs: elapsed(), code: refusal.code, detail: refusal.message };
    }
    const name = (error as { name?: string }).name;
    const code =
      name === 'TimeoutError' || name === 'AbortError'
        ? 'TIMEOUT'
        : ((error as { code?: string }).code ?? 'NETWORK_ERROR');
    const message = error instanceof Error ? error.message : String(error);
    return {
      kind: 'network_error',
      latencyMs: elapsed(),
      code,
      detail:
        code === 'TIMEOUT'
          ? `no complete answer within ${options.timeouts.totalMs} ms`
          : `${code}: ${message}`,
    };
  } finally {
    deadline.clear();
  }
}
