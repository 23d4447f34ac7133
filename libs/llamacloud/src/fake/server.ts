import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CallbackSender } from './callbacks.js';
import { queryOf, route, type Answer, type RouteContext } from './routes.js';
import type {
  CannedAnswer,
  FakeJob,
  FakeRequest,
  FakeSubmission,
  FakeWebhook,
  LlamaCloudFake,
  LlamaCloudFakeOptions,
} from './types.js';

/** The v1 `error_code` of a job failed without one. */
export const DEFAULT_FAILURE_CODE = 'PARSING_ERROR';

/** Starts the fake on 127.0.0.1, on a free port. */
export async function startLlamaCloudFake(
  options: LlamaCloudFakeOptions = {},
): Promise<LlamaCloudFake> {
  const apiKey = options.apiKey ?? `llx-${randomBytes(24).toString('base64url')}`;
  const defaultProjectId = options.projectId ?? randomUUID();
  const now = options.now ?? Date.now;
  const jobs = new Map<string, FakeJob>();
  const submissions: FakeSubmission[] = [];
  const requests: FakeRequest[] = [];
  const canned: CannedAnswer[] = [];
  const sender = new CallbackSender({
    retryDelaysMs: options.retryDelaysMs ?? [1000, 2000, 4000],
    maxAttempts: options.maxAttempts ?? 3,
    timeoutMs: options.timeoutMs ?? 30_000,
    rewriteCallbackUrl: options.rewriteCallbackUrl ?? ((url) => url),
    dropCallbacks: options.dropCallbacks ?? (() => false),
    duplicateCallbacks: options.duplicateCallbacks ?? (() => false),
    now,
  });
  const timestamp = () => new Date(now()).toISOString();

  const notify = (job: FakeJob, eventType: string, onlyIfListed = false) => {
    const webhook: FakeWebhook | undefined = job.webhook;
    if (!webhook) return;
    if (onlyIfListed && !webhook.events?.includes(eventType)) return;
    sender.send(job, webhook, eventType);
  };

  const context: RouteContext = {
    jobs,
    createJob({ api, name, tier, projectId, webhook, submission }) {
      const created = timestamp();
      const job: FakeJob = {
        id: randomUUID(),
        api,
        projectId: projectId ?? defaultProjectId,
        name,
        tier,
        createdAt: created,
        updatedAt: created,
        state: 'pending',
        errorCode: null,
        errorMessage: null,
        result: undefined,
        webhook,
      };
      jobs.set(job.id, job);
      submissions.push({ ...submission, api, jobId: job.id });
      // Progress events are sent only when asked for by name: tests mostly care about the end.
      if (webhook?.kind === 'events') notify(job, 'parse.pending', true);
      return job;
    },
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const headers = headersOf(req);
    const authorized = req.headers.authorization === `Bearer ${apiKey}`;
    const record: FakeRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: queryOf(url),
      headers,
      authorized,
      status: 0,
    };
    requests.push(record);
    let answer: Answer;
    try {
      const body = await readBody(req);
      const next = canned.shift();
      if (next) {
        answer = {
          status: next.status,
          body: { detail: next.detail ?? `The fake answered ${next.status} as asked.` },
          ...(next.headers ? { headers: next.headers } : {}),
        };
      } else if (!authorized) {
        answer = { status: 401, body: { detail: 'Invalid API key' } };
      } else {
        answer = await route(context, {
          method: record.method,
          path: url.pathname,
          url,
          headers,
          body,
        });
      }
    } catch (error) {
      answer = { status: 500, body: { detail: `The fake failed: ${String(error)}` } };
    }
    record.status = answer.status;
    const text = JSON.stringify(answer.body);
    res.writeHead(answer.status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...answer.headers,
    });
    res.end(text);
  };

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  const jobFor = (jobId: string, allowed: readonly FakeJob['state'][], action: string) => {
    const job = jobs.get(jobId);
    if (!job) throw new Error(`The LlamaCloud fake has no job ${jobId} to ${action}.`);
    if (!allowed.includes(job.state)) {
      throw new Error(`The LlamaCloud fake cannot ${action} job ${jobId}: it is ${job.state}.`);
    }
    job.updatedAt = timestamp();
    return job;
  };
  const ENDABLE = ['pending', 'running'] as const;

  let closing: Promise<void> | undefined;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    apiKey,
    projectId: defaultProjectId,
    jobs,
    submissions,
    requests,
    callbacks: sender.callbacks,
    callbackAttempts: sender.attempts,
    setRunning(jobId) {
      const job = jobFor(jobId, ['pending'], 'set running');
      job.state = 'running';
      notify(job, 'parse.running', true);
      return job;
    },
    complete(jobId, result) {
      const job = jobFor(jobId, ENDABLE, 'complete');
      job.result = result ?? {};
      const partial = (result?.pages ?? []).some((page) => page.error !== undefined);
      job.state = partial ? 'partial' : 'succeeded';
      if (job.webhook?.kind === 'legacy') notify(job, 'legacy');
      else notify(job, partial ? 'parse.partial_success' : 'parse.success');
      return job;
    },
    fail(jobId, message, { code = DEFAULT_FAILURE_CODE } = {}) {
      const job = jobFor(jobId, ENDABLE, 'fail');
      job.state = 'failed';
      job.errorMessage = message;
      job.errorCode = code;
      // The legacy webhook carries a result; what it sends for a failed job is not documented.
      if (job.webhook?.kind === 'events') notify(job, 'parse.error');
      return job;
    },
    cancel(jobId) {
      const job = jobFor(jobId, ENDABLE, 'cancel');
      job.state = 'cancelled';
      if (job.webhook?.kind === 'events') notify(job, 'parse.cancelled');
      return job;
    },
    rateLimitNext(retryAfterSeconds = 1) {
      canned.push({
        status: 429,
        detail: 'Too many requests. Please slow down.',
        headers: { 'retry-after': String(retryAfterSeconds) },
      });
    },
    failNext(answer) {
      canned.push(answer);
    },
    callbacksSettled: () => sender.settled(),
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await Promise.all([stopped, sender.close()]);
      })();
      return closing;
    },
  };
}

function headersOf(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (name === 'authorization' || value === undefined) continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

const MAX_BODY_BYTES = 64 * 1024 * 1024;

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.destroy();
        reject(new Error('request body too large'));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
