import type { OutboundPolicy } from '@callback-gateway/outbound';
import { OutboundRefusedError } from '@callback-gateway/outbound';
import type { Registration, StoredCallback } from '@callback-gateway/store';
import { Webhook } from 'standardwebhooks';
import { request, type Dispatcher } from 'undici';

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
export function deliveryBody(callback: StoredCallback, registration: Registration): string {
  const type = callback.eventType ?? (callback.format === 'legacy' ? 'parse.result' : 'callback');
  const head = {
    type,
    registration_id: registration.id,
    parse_job_id: callback.jobId ?? registration.parseJobId ?? null,
    received_at: callback.receivedAt,
    format: callback.format,
    ...(callback.eventId !== undefined && { event_id: callback.eventId }),
    ...(callback.reconciled && { reconciled: true }),
    ...(registration.metadata !== undefined && { metadata: registration.metadata }),
  };
  return `${JSON.stringify(head).slice(0, -1)},"payload":${callback.payloadJson}}`;
}

const MAX_ERROR_BODY = 2_048;

/**
 * POSTs one delivery, signed per Standard Webhooks with the registration's delivery secret.
 * `webhook-id` is the callback id: the same on every retry and replay, so the pipeline can
 * deduplicate. Never throws: every outcome is a {@link SendResult}.
 */
export async function sendDelivery(options: {
  callback: StoredCallback;
  registration: Registration;
  dispatcher: Dispatcher;
  policy: OutboundPolicy;
  timeouts: DeliveryTimeouts;
  now?: () => Date;
}): Promise<SendResult> {
  const { callback, registration } = options;
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    options.policy.checkUrl(registration.deliverTo);
  } catch (error) {
    if (error instanceof OutboundRefusedError) {
      return { kind: 'refused', latencyMs: 0, code: error.code, detail: error.message };
    }
    throw error;
  }
  const body = deliveryBody(callback, registration);
  const timestamp = (options.now ?? (() => new Date()))();
  const signature = new Webhook(registration.deliverySecret).sign(callback.id, timestamp, body);
  try {
    const response = await request(registration.deliverTo, {
      method: 'POST',
      dispatcher: options.dispatcher,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'callback-gateway/0.1 (+delivery)',
        'webhook-id': callback.id,
        'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
        'webhook-signature': signature,
      },
      body,
      headersTimeout: options.timeouts.headersMs,
      bodyTimeout: options.timeouts.totalMs,
      signal: AbortSignal.timeout(options.timeouts.totalMs),
    });
    let detail = '';
    if (response.statusCode >= 300) {
      const text = await response.body.text().catch(() => '');
      detail = text.slice(0, MAX_ERROR_BODY);
    } else {
      await response.body.dump().catch(() => undefined);
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
  }
}
