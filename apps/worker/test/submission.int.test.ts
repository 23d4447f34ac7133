import { Writable } from 'node:stream';
import { createLogger } from '@callback-gateway/audit';
import { memoryAuditLog, type MemoryAuditLog } from '@callback-gateway/audit/testing';
import { createLlamaCloudClient } from '@callback-gateway/llamacloud';
import { startLlamaCloudFake, type LlamaCloudFake } from '@callback-gateway/llamacloud/testing';
import {
  QUEUES,
  createSubmissionStore,
  storeKeys,
  type NewSubmission,
  type SubmissionStore,
} from '@callback-gateway/store';
import { startRedis, type TestRedis } from '@callback-gateway/testing';
import type { WebhookUrlResolution } from '@callback-gateway/webhook-url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSubmissionService, type SubmissionService } from '../src/submission/service.js';

const BASE: WebhookUrlResolution = {
  baseUrl: 'https://hooks.example.com',
  source: 'cloud_config',
  verifiedBy: 'dns',
  resolvedAt: new Date(),
  insecure: false,
};

describe('parse submission against the LlamaCloud fake', () => {
  let server: TestRedis;
  let redis: Redis;
  let fake: LlamaCloudFake;
  let queue: Queue;
  let service: SubmissionService;
  let submissions: SubmissionStore;
  let audit: MemoryAuditLog;

  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(() => server?.close());

  beforeEach(async () => {
    redis = new Redis(server.url, { maxRetriesPerRequest: null });
    const keys = storeKeys(`t${Math.random().toString(36).slice(2, 10)}`);
    fake = await startLlamaCloudFake({ dropCallbacks: () => true });
    audit = memoryAuditLog();
    submissions = createSubmissionStore({ redis, keys });
    queue = new Queue(QUEUES.parseSubmissions, {
      connection: redis,
      prefix: `{${keys.prefix}}`,
    });
    service = startSubmissionService({
      connection: redis,
      storeRedis: redis,
      keys,
      webhookUrl: () => ({ resolve: () => Promise.resolve(BASE) }),
      llamaCloud: createLlamaCloudClient({ baseUrl: fake.baseUrl, apiKey: fake.apiKey }),
      registrationTtlSeconds: 86_400,
      expectCallbackWithinSeconds: 3_600,
      parseDefaults: { tier: 'agentic', version: '2026-08-19' },
      audit,
      logger: createLogger({ name: 'test', level: 'silent', destination: new Writable() }),
      registry: new Registry(),
    });
  });
  afterEach(async () => {
    await service?.close();
    await queue?.close();
    await fake?.close();
    redis?.disconnect();
  });

  const submit = async (input: Partial<NewSubmission>) => {
    const created = await submissions.create({
      deliverTo: 'https://pipeline.example.com/results',
      sourceUrl: 'https://docs.example.com/a.pdf',
      api: 'v2',
      tier: undefined,
      version: undefined,
      metadata: undefined,
      expectCallbackWithinSeconds: undefined,
      apiClient: 'test',
      ...input,
    });
    await queue.add('submit', { submissionId: created.id }, { jobId: created.id, attempts: 1 });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const current = await submissions.get(created.id);
      if (current?.state === 'submitted' || current?.state === 'failed') return current;
      if (Date.now() > deadline) throw new Error(`submission still ${current?.state}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  it('names the configured default tier and version on a v2 job that names none', async () => {
    const submission = await submit({});

    // The submission shows what the job was submitted with, and the audit trail says so.
    expect(submission).toMatchObject({
      state: 'submitted',
      lastError: '',
      tier: 'agentic',
      version: '2026-08-19',
    });
    // The worker records it just after it marks the submission submitted, which the poll saw.
    for (const deadline = Date.now() + 5_000; audit.ofType('parse.submitted').length === 0;) {
      if (Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(audit.ofType('parse.submitted')).toMatchObject([
      {
        correlation: { parse_job_id: submission.parseJobId },
        data: { submission_id: submission.id, api: 'v2', tier: 'agentic', version: '2026-08-19' },
      },
    ]);
    const sent = fake.submissions.find((entry) => entry.jobId === submission.parseJobId);
    expect(sent?.fields).toEqual({
      tier: 'agentic',
      version: '2026-08-19',
      source_url: 'https://docs.example.com/a.pdf',
      webhook_configurations: [
        {
          webhook_url: expect.stringMatching(
            /^https:\/\/hooks\.example\.com\/v1\/callbacks\/llamaparse\/[\w-]{43}$/,
          ),
          webhook_signing_secret: expect.stringMatching(/^[\w-]{43}$/),
          webhook_output_format: 'json',
          webhook_events: [
            'parse.success',
            'parse.partial_success',
            'parse.error',
            'parse.cancelled',
          ],
        },
      ],
    });
  });

  it('subscribes a v2 job to its end only, so its progress is not delivered', async () => {
    const submission = await submit({});

    const sent = fake.submissions.find((entry) => entry.jobId === submission.parseJobId);
    expect(sent?.events).toEqual([
      'parse.success',
      'parse.partial_success',
      'parse.error',
      'parse.cancelled',
    ]);
    fake.setRunning(submission.parseJobId ?? '');
    expect(fake.callbacks).toEqual([]);
  });

  it("sends the submission's own tier and version instead of the defaults", async () => {
    const tierOnly = await submit({ tier: 'agentic_plus' });
    const both = await submit({ tier: 'fast', version: 'latest' });

    const sent = (id: string | undefined) =>
      fake.submissions.find((entry) => entry.jobId === id)?.fields;
    expect(sent(tierOnly.parseJobId)).toMatchObject({
      tier: 'agentic_plus',
      version: '2026-08-19',
    });
    expect(sent(both.parseJobId)).toMatchObject({ tier: 'fast', version: 'latest' });
    expect(both).toMatchObject({ tier: 'fast', version: 'latest' });
  });

  it('uploads a v2 document with its configuration', async () => {
    const submission = await submit({
      sourceUrl: undefined,
      file: { name: 'b.pdf', contentType: 'application/pdf', content: Buffer.from('%PDF-1.7') },
    });

    const sent = fake.submissions.find((entry) => entry.jobId === submission.parseJobId);
    expect(sent).toMatchObject({
      api: 'v2-upload',
      file: { name: 'b.pdf', size: 8, contentType: 'application/pdf' },
      fields: { tier: 'agentic', version: '2026-08-19', webhook_configurations: [{}] },
    });
  });

  it('submits a v1 upload without tier or version, and records none', async () => {
    const submission = await submit({
      api: 'v1',
      sourceUrl: undefined,
      file: { name: 'a.pdf', contentType: 'application/pdf', content: Buffer.from('%PDF') },
    });

    expect(submission).toMatchObject({ state: 'submitted', tier: undefined, version: undefined });
    const sent = fake.submissions.find((entry) => entry.jobId === submission.parseJobId);
    expect(sent).toMatchObject({ api: 'v1-upload', file: { name: 'a.pdf' } });
    expect(sent?.fields).not.toHaveProperty('tier');
    expect(audit.ofType('parse.submitted')).toMatchObject([{ data: { api: 'v1' } }]);
    expect(audit.ofType('parse.submitted')[0]?.data).not.toHaveProperty('tier');
  });
});
