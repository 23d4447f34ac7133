import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Answer, RouteContext } from './answer.js';
import { queryOf } from './answer.js';
import { CallbackSender } from './callbacks.js';
import { eventNames } from './events.js';
import { route } from './routes.js';
import type {
  CannedAnswer,
  FakeJob,
  FakeJobState,
  FakeRequest,
  FakeSubmission,
  FakeWebhook,
  FakeWebhookConfig,
  LlamaCloudFake,
  LlamaCloudFakeOptions,
} from './types.js';
import { DEFAULT_VERSIONS } from './versions.js';

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
  const webhookConfigs = new Map<string, FakeWebhookConfig>();
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

  /** Where a job's events go now: its own webhooks, and the saved ones it names. */
  const webhooksOf = (job: FakeJob): FakeWebhook[] => [
    ...job.webhooks,
    ...job.webhookConfigurationIds.flatMap((id): FakeWebhook[] => {
      const saved = webhookConfigs.get(id);
      if (!saved) return [];
      return [
        {
          url: saved.url,
          kind: 'events',
          signingSecret: saved.signingSecret,
          events: saved.events ?? undefined,
          headers: saved.headers,
          outputFormat: saved.outputFormat ?? 'string',
          configurationId: saved.id,
        },
      ];
    }),
  ];

  /** Sends what a job's new state means to each of its webhooks. */
  const notify = (job: FakeJob, state: FakeJobState) => {
    for (const webhook of webhooksOf(job)) {
      if (webhook.kind === 'legacy') {
        // The legacy webhook carries a result; what it sends otherwise is not documented.
        if (state === 'succeeded' || state === 'partial') sender.send(job, webhook, 'legacy');
        continue;
      }
      for (const name of eventNames(state, webhook.events)) sender.send(job, webhook, name);
    }
  };

  const context: RouteContext = {
    jobs,
    webhookConfigs,
    versions: options.versions ?? DEFAULT_VERSIONS,
    projectId: defaultProjectId,
    timestamp,
    createJob(input) {
      const created = timestamp();
      const job: FakeJob = {
        id: randomUUID(),
        api: input.api,
        projectId: input.projectId ?? defaultProjectId,
        name: input.name,
        tier: input.tier,
        version: input.version,
        createdAt: created,
        updatedAt: created,
        state: 'pending',
        errorCode: null,
        errorMessage: null,
        result: undefined,
        webhooks: input.webhooks,
        webhookConfigurationIds: input.webhookConfigurationIds,
      };
      jobs.set(job.id, job);
      submissions.push({ ...input.submission, api: input.api, jobId: job.id });
      notify(job, 'pending');
      return job;
    },
    cancelJob(job) {
      job.state = 'cancelled';
      job.updatedAt = timestamp();
      notify(job, 'cancelled');
    },
    deleteJob(job) {
      jobs.delete(job.id);
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
    if (answer.body === undefined) {
      res.writeHead(answer.status, { ...answer.headers }).end();
      return;
    }
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

  const jobFor = (jobId: string, allowed: readonly FakeJobState[], action: string) => {
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
    webhookConfigs,
    submissions,
    requests,
    callbacks: sender.callbacks,
    callbackAttempts: sender.attempts,
    setRunning(jobId) {
      const job = jobFor(jobId, ['pending'], 'set running');
      job.state = 'running';
      notify(job, 'running');
      return job;
    },
    complete(jobId, result) {
      const job = jobFor(jobId, ENDABLE, 'complete');
      job.result = result ?? {};
      const partial = (result?.pages ?? []).some((page) => page.error !== undefined);
      job.state = partial ? 'partial' : 'succeeded';
      notify(job, job.state);
      return job;
    },
    fail(jobId, message, { code = DEFAULT_FAILURE_CODE } = {}) {
      const job = jobFor(jobId, ENDABLE, 'fail');
      job.state = 'failed';
      job.errorMessage = message;
      job.errorCode = code;
      notify(job, 'failed');
      return job;
    },
    cancel(jobId) {
      const job = jobFor(jobId, ENDABLE, 'cancel');
      context.cancelJob(job);
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
