import { createHmac, randomUUID } from 'node:crypto';
import { Agent, request } from 'undici';
import { legacyCallbackBody } from './results.js';
import type { FakeCallback, FakeCallbackAttempt, FakeJob, FakeWebhook } from './types.js';

/** How the fake sends callbacks (LlamaCloud's documented sender, with test-sized knobs). */
export interface CallbackSenderOptions {
  retryDelaysMs: readonly number[];
  maxAttempts: number;
  timeoutMs: number;
  rewriteCallbackUrl: (url: string) => string;
  dropCallbacks: (jobId: string) => boolean;
  duplicateCallbacks: (jobId: string) => boolean;
  now: () => number;
}

/** LlamaCloud's webhook service introduces itself with this. */
export const WEBHOOK_USER_AGENT = 'llamaindex-webhook-service/1.0';

// Header names the sender sets itself; custom webhook_headers cannot replace them.
const OWN_HEADERS = new Set([
  'content-type',
  'user-agent',
  'x-webhook-event-id',
  'x-webhook-event-type',
  'lc-signature',
]);

/**
 * Sends callbacks like LlamaCloud: one POST per event, up to `maxAttempts` attempts with waits
 * from `retryDelaysMs`, each attempt cut after `timeoutMs`; any 2xx ends the delivery. Records
 * every callback and attempt. `close()` aborts attempts and waits under way.
 */
export class CallbackSender {
  readonly callbacks: FakeCallback[] = [];
  readonly attempts: FakeCallbackAttempt[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly waits = new Set<{ timer: NodeJS.Timeout; resolve: (go: boolean) => void }>();
  private readonly closing = new AbortController();
  private readonly agent = new Agent();

  constructor(private readonly options: CallbackSenderOptions) {}

  /** Sends the callback of `eventType` for `job` (`legacy` = the v1 full-result body). */
  send(job: FakeJob, webhook: FakeWebhook, eventType: string): void {
    if (this.closing.signal.aborted) return;
    const callback = this.build(job, webhook, eventType);
    if (this.options.dropCallbacks(job.id)) {
      this.callbacks.push({ ...callback, outcome: 'dropped' });
      return;
    }
    const duplicate = this.options.duplicateCallbacks(job.id);
    const run = async () => {
      await this.deliver(callback);
      // The same body again (same event_id): what a receiver sees when a delivery is repeated.
      if (duplicate) await this.deliver({ ...callback, outcome: 'pending' });
    };
    const running = run().finally(() => this.inFlight.delete(running));
    this.inFlight.add(running);
  }

  /** Resolves once no callback is being sent or waiting for its next attempt. */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Aborts attempts and waits under way, then closes the connections. Idempotent. */
  async close(): Promise<void> {
    this.closing.abort(new Error('the LlamaCloud fake was closed'));
    for (const wait of this.waits) {
      clearTimeout(wait.timer);
      wait.resolve(false);
    }
    this.waits.clear();
    await this.settled();
    await this.agent.destroy();
  }

  private build(job: FakeJob, webhook: FakeWebhook, eventType: string): FakeCallback {
    const base = { jobId: job.id, url: webhook.url, outcome: 'pending' as const };
    const targetUrl = this.options.rewriteCallbackUrl(webhook.url);
    if (webhook.kind === 'legacy') {
      return {
        ...base,
        targetUrl,
        eventId: undefined,
        eventType,
        body: JSON.stringify(legacyCallbackBody(job)),
        headers: { 'Content-Type': 'application/json', 'User-Agent': WEBHOOK_USER_AGENT },
      };
    }
    const eventId = randomUUID();
    const envelope = {
      event_id: eventId,
      event_type: eventType,
      timestamp: this.options.now() / 1000,
      data: { id: job.id, job_id: job.id },
    };
    const json = JSON.stringify(envelope);
    // "string" (LlamaCloud's default) sends a JSON string literal whose content is the envelope.
    const body = webhook.outputFormat === 'string' ? JSON.stringify(json) : json;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(webhook.headers)) {
      if (!OWN_HEADERS.has(name.toLowerCase())) headers[name] = value;
    }
    headers['Content-Type'] = 'application/json';
    headers['User-Agent'] = WEBHOOK_USER_AGENT;
    headers['X-Webhook-Event-ID'] = eventId;
    headers['X-Webhook-Event-Type'] = eventType;
    if (webhook.signingSecret) {
      const hex = createHmac('sha256', webhook.signingSecret).update(body).digest('hex');
      headers['LC-Signature'] = `sha256=${hex}`;
    }
    return { ...base, targetUrl, eventId, eventType, body, headers };
  }

  private async deliver(template: FakeCallback): Promise<void> {
    const callback = { ...template };
    this.callbacks.push(callback);
    const { maxAttempts } = this.options;
    for (let attempt = 1; attempt <= maxAttempts; attempt += 1) {
      if (this.closing.signal.aborted) {
        callback.outcome = 'aborted';
        return;
      }
      if (await this.attempt(callback, attempt)) {
        callback.outcome = 'delivered';
        return;
      }
      if (attempt < maxAttempts && !(await this.wait(this.delayAfter(attempt)))) {
        callback.outcome = 'aborted';
        return;
      }
    }
    callback.outcome = this.closing.signal.aborted ? 'aborted' : 'gave-up';
  }

  /** One POST; true on any 2xx. */
  private async attempt(callback: FakeCallback, attempt: number): Promise<boolean> {
    const record: FakeCallbackAttempt = {
      jobId: callback.jobId,
      eventId: callback.eventId,
      eventType: callback.eventType,
      url: callback.targetUrl,
      attempt,
      at: this.options.now(),
    };
    this.attempts.push(record);
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.options.timeoutMs);
    try {
      const response = await request(callback.targetUrl, {
        method: 'POST',
        headers: callback.headers,
        body: callback.body,
        signal: AbortSignal.any([deadline.signal, this.closing.signal]),
        dispatcher: this.agent,
      });
      await response.body.dump();
      record.status = response.statusCode;
      return response.statusCode >= 200 && response.statusCode < 300;
    } catch (error) {
      if (this.closing.signal.aborted) record.error = 'the LlamaCloud fake was closed';
      else if (deadline.signal.aborted) {
        record.error = `no answer within ${this.options.timeoutMs} ms`;
      } else record.error = describe(error);
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  private delayAfter(attempt: number): number {
    const delays = this.options.retryDelaysMs;
    return delays[attempt - 1] ?? delays[delays.length - 1] ?? 0;
  }

  /** Waits `ms`; false when the fake closed meanwhile. */
  private wait(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const wait = {
        timer: setTimeout(() => {
          this.waits.delete(wait);
          resolve(true);
        }, ms),
        resolve,
      };
      this.waits.add(wait);
    });
  }
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = 'code' in error ? String(error.code) : undefined;
  return code && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
}
