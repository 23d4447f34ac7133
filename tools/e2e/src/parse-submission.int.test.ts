import { startLlamaCloudFake, type LlamaCloudFake } from '@callback-gateway/llamacloud/testing';
import { startRedis, waitForHttp, type TestRedis } from '@callback-gateway/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_TOKEN,
  startStack,
  startTestPipeline,
  until,
  type Stack,
  type TestPipeline,
} from './stack.js';

const auth = { authorization: `Bearer ${API_TOKEN}` };

interface SubmissionView {
  id: string;
  state: string;
  tier: string | null;
  version: string | null;
  registration_id: string | null;
  parse_job_id: string | null;
  last_error: string | null;
}

async function submission(stack: Stack, id: string): Promise<SubmissionView> {
  return (await (
    await fetch(`${stack.gatewayUrl}/v1/parse/${id}`, { headers: auth })
  ).json()) as SubmissionView;
}

describe('parse submission through LlamaParse (local fake), end to end', () => {
  let redis: TestRedis;
  let stack: Stack;
  let pipeline: TestPipeline;
  let fake: LlamaCloudFake;
  const secrets = new Map<string, string>();

  beforeAll(async () => {
    redis = await startRedis();
    pipeline = await startTestPipeline((path) => secrets.get(path) ?? '');
    const gatewayAt: { url?: string } = {};
    fake = await startLlamaCloudFake({
      // The callback URL is public (https://hooks.example.com/...): here it reaches the gateway.
      rewriteCallbackUrl: (url) => `${gatewayAt.url}${new URL(url).pathname}`,
      retryDelaysMs: [50, 100],
    });
    stack = await startStack(redis, {
      LLAMA_CLOUD_BASE_URL: fake.baseUrl,
      LLAMA_CLOUD_API_KEY: fake.apiKey,
      LLAMA_CLOUD_PARSE_TIER: 'agentic',
    });
    gatewayAt.url = stack.gatewayUrl;
  });
  afterAll(async () => {
    await stack?.stop();
    await fake?.close();
    await pipeline?.close();
    await redis?.close();
  });

  const submit = async (body: FormData | Record<string, unknown>) => {
    const response = await fetch(`${stack.gatewayUrl}/v1/parse`, {
      method: 'POST',
      headers: body instanceof FormData ? auth : { ...auth, 'content-type': 'application/json' },
      body: body instanceof FormData ? body : JSON.stringify(body),
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  };

  it('submits a URL with a signed v2 webhook configuration, and delivers the signed callback to the pipeline', async () => {
    const id = await submit({
      source_url: 'https://docs.example.com/a.pdf',
      deliver_to: pipeline.url('/v2'),
    });
    await until(async () => (await submission(stack, id)).state === 'submitted');
    const view = await submission(stack, id);
    const sent = fake.submissions.find((entry) => entry.jobId === view.parse_job_id);
    expect(sent).toMatchObject({ api: 'v2-parse', outputFormat: 'json' });
    // The worker's LLAMA_CLOUD_PARSE_TIER, and the default version; the gateway shows both.
    expect(sent?.fields).toMatchObject({ tier: 'agentic', version: 'latest' });
    expect(view).toMatchObject({ tier: 'agentic', version: 'latest' });
    expect(sent?.webhookUrl).toMatch(
      /^https:\/\/hooks\.example\.com\/v1\/callbacks\/llamaparse\/[A-Za-z0-9_-]{43}$/,
    );
    expect(sent?.signingSecret).toBeTruthy();

    // The pipeline's delivery secret comes with the registration the worker created.
    const registration = (await (
      await fetch(`${stack.gatewayUrl}/v1/registrations/${view.registration_id}`, { headers: auth })
    ).json()) as {
      parse_job_id: string;
      require_signature: boolean;
    };
    expect(registration).toMatchObject({
      parse_job_id: view.parse_job_id,
      require_signature: true,
    });
    secrets.set('/v2', await readDeliverySecret(redis, view.registration_id ?? ''));

    fake.complete(view.parse_job_id ?? '');
    await until(() => pipeline.receipts.some((receipt) => receipt.path === '/v2'));
    const delivered = pipeline.receipts.find((receipt) => receipt.path === '/v2')?.delivery;
    expect(delivered).toMatchObject({
      type: 'parse.success',
      parseJobId: view.parse_job_id,
      format: 'event',
    });
    expect(
      fake.callbackAttempts
        .filter((attempt) => attempt.jobId === view.parse_job_id)
        .map((attempt) => attempt.status),
    ).toEqual([202]);
  });

  it('uploads a file with the legacy v1 webhook_url, and delivers the full result', async () => {
    const form = new FormData();
    form.append('deliver_to', pipeline.url('/v1'));
    form.append('api', 'v1');
    form.append(
      'file',
      new Blob([Buffer.from('%PDF-1.4 test')], { type: 'application/pdf' }),
      'report.pdf',
    );
    const id = await submit(form);
    await until(async () => (await submission(stack, id)).state === 'submitted');
    const view = await submission(stack, id);
    const sent = fake.submissions.find((entry) => entry.jobId === view.parse_job_id);
    expect(sent).toMatchObject({ api: 'v1-upload', file: { name: 'report.pdf', size: 13 } });
    secrets.set('/v1', await readDeliverySecret(redis, view.registration_id ?? ''));
    fake.complete(view.parse_job_id ?? '');
    await until(() => pipeline.receipts.some((receipt) => receipt.path === '/v1'));
    const delivered = pipeline.receipts.find((receipt) => receipt.path === '/v1')?.delivery;
    expect(delivered).toMatchObject({ type: 'parse.result', format: 'legacy' });
    expect(delivered?.payload).toHaveProperty('md');
  });
});

describe('parse submission without a public URL', () => {
  let redis: TestRedis;
  let stack: Stack;
  let fake: LlamaCloudFake;
  beforeAll(async () => {
    redis = await startRedis();
    fake = await startLlamaCloudFake({});
    stack = await startStack(
      redis,
      {
        PUBLIC_BASE_URL: '',
        LLAMA_CLOUD_BASE_URL: fake.baseUrl,
        LLAMA_CLOUD_API_KEY: fake.apiKey,
      },
      { gatewayReady: '/readyz/ingest' },
    );
  });
  afterAll(async () => {
    await stack?.stop();
    await fake?.close();
    await redis?.close();
  });

  it('never submits: the document waits, the refusal is visible in /readyz, nothing reaches the parser', async () => {
    const id = await submitUrlDocument(stack);
    await until(async () => (await submission(stack, id)).state === 'waiting_for_url');
    expect((await submission(stack, id)).last_error).toContain('WEBHOOK_URL_NO_SOURCE');
    const ready = await waitForHttp(`${stack.workerUrl}/readyz`, (status) => status === 503);
    expect(JSON.parse(ready.body).checks.parse_submissions.reason).toContain(
      'wait for a public callback URL',
    );
    expect(fake.submissions).toEqual([]);
    const metrics = await (await fetch(`${stack.workerUrl}/metrics`)).text();
    expect(metrics).toMatch(
      /cbgw_parse_submissions_total\{outcome="waiting_for_url",process="worker"\} [1-9]/,
    );
  });
});

describe('parse submission to a LlamaCloud at an address the outbound policy refuses', () => {
  let redis: TestRedis;
  let stack: Stack;
  let fake: LlamaCloudFake;
  beforeAll(async () => {
    redis = await startRedis();
    fake = await startLlamaCloudFake({});
    // Loopback is allowed on another port only: the fake's port is not.
    stack = await startStack(redis, {
      OUTBOUND_ALLOW: '127.0.0.1:9',
      LLAMA_CLOUD_BASE_URL: fake.baseUrl,
      LLAMA_CLOUD_API_KEY: fake.apiKey,
    });
  });
  afterAll(async () => {
    await stack?.stop();
    await fake?.close();
    await redis?.close();
  });

  it('sends nothing there, and says which setting would allow it', async () => {
    const id = await submitUrlDocument(stack);
    await until(async () => (await submission(stack, id)).last_error !== null);
    const view = await submission(stack, id);
    expect(view.state).not.toBe('submitted');
    expect(view.last_error).toContain('OUTBOUND_ALLOW');
    expect(fake.submissions).toEqual([]);
    expect(fake.requests).toEqual([]);
  });
});

/** Submits a document by URL for a pipeline that never answers; the submission's id. */
async function submitUrlDocument(stack: Stack): Promise<string> {
  const response = await fetch(`${stack.gatewayUrl}/v1/parse`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({
      source_url: 'https://docs.example.com/a.pdf',
      deliver_to: 'http://127.0.0.1:9/x',
    }),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { id: string }).id;
}

async function readDeliverySecret(redis: TestRedis, registrationId: string): Promise<string> {
  const client = new Redis(redis.url);
  const secret = await client.hget(`{cbgw}:reg:${registrationId}`, 'delivery_secret');
  client.disconnect();
  return secret ?? '';
}
