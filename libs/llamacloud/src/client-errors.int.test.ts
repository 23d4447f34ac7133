import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createLlamaCloudClient,
  isLlamaCloudError,
  type CreateJobParams,
  type LlamaCloudError,
} from './index.js';
import { startLlamaCloudFake, type LlamaCloudFake } from './testing.js';

const CALLBACK_URL = 'https://hooks.example.com/v1/callbacks/llamaparse/tok_1';
const FILE = { name: 'a.pdf', content: Buffer.from('%PDF') };
const JOB: CreateJobParams = {
  tier: 'cost_effective',
  version: 'latest',
  file_id: 'f',
  webhook_configurations: [{ webhook_url: CALLBACK_URL }],
};

async function rejection(promise: Promise<unknown>): Promise<LlamaCloudError> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!isLlamaCloudError(error))
    throw new Error(`expected a LlamaCloudError, got ${inspect(error)}`);
  return error;
}

/** Everything an error could show: message, fields, JSON and its inspected cause chain. */
function everythingShown(error: LlamaCloudError): string {
  return [String(error), JSON.stringify(error), inspect(error, { depth: 10 })].join('\n');
}

async function listen(handler: Parameters<typeof createServer>[1]): Promise<Server> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

function urlOf(server: Server): string {
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

describe('the LlamaCloud client errors', () => {
  let fake: LlamaCloudFake;

  beforeEach(async () => {
    // Callbacks are not the subject here: none leave the machine.
    fake = await startLlamaCloudFake({ dropCallbacks: () => true });
  });
  afterEach(() => fake.close());

  it('says LLAMACLOUD_UNAUTHORIZED for a wrong API key, without ever showing the key', async () => {
    const apiKey = 'llx-this-key-is-wrong-and-secret';
    const client = createLlamaCloudClient({ baseUrl: fake.baseUrl, apiKey });

    const error = await rejection(client.getJobV2('job-1'));

    expect(error).toMatchObject({
      code: 'LLAMACLOUD_UNAUTHORIZED',
      status: 401,
      detail: 'Invalid API key',
      retryable: false,
    });
    expect(error.message).toMatch(/Check the API key/);
    expect(everythingShown(error)).not.toContain(apiKey);
    expect(JSON.stringify(fake.requests)).not.toContain(apiKey);
  });

  it('says LLAMACLOUD_NOT_FOUND for an unknown job, with LlamaCloud detail', async () => {
    const client = createLlamaCloudClient({ baseUrl: fake.baseUrl, apiKey: fake.apiKey });

    const v2 = await rejection(client.getJobV2('no-such-job'));
    const v1 = await rejection(client.getJobV1('no-such-job'));

    expect(v2).toMatchObject({ code: 'LLAMACLOUD_NOT_FOUND', status: 404, retryable: false });
    expect(v2.detail).toMatch(/no-such-job/);
    expect(v1.code).toBe('LLAMACLOUD_NOT_FOUND');
  });

  it('says LLAMACLOUD_INVALID_REQUEST with the detail when the webhook URL breaks the rules', async () => {
    const client = createLlamaCloudClient({ baseUrl: fake.baseUrl, apiKey: fake.apiKey });

    const error = await rejection(
      client.uploadV1({ file: FILE, webhookUrl: 'http://hooks.example.com/cb' }),
    );

    expect(error).toMatchObject({
      code: 'LLAMACLOUD_INVALID_REQUEST',
      status: 400,
      retryable: false,
    });
    expect(error.detail).toMatch(/must use https/);
    expect(error.message).toContain(String(error.detail));
    expect(fake.submissions).toHaveLength(0);
  });

  it('keeps a FastAPI list of validation issues as the detail', async () => {
    const client = createLlamaCloudClient({ baseUrl: fake.baseUrl, apiKey: fake.apiKey });

    const error = await rejection(
      client.parseV2({
        ...JOB,
        webhook_configurations: [
          { webhook_url: CALLBACK_URL, webhook_output_format: 'xml' as 'json' },
        ],
      }),
    );

    expect(error).toMatchObject({ code: 'LLAMACLOUD_INVALID_REQUEST', status: 422 });
    expect(error.detail).toEqual([
      expect.objectContaining({
        loc: ['body', 'webhook_configurations', 0, 'webhook_output_format'],
      }),
    ]);
  });

  it('says LLAMACLOUD_RATE_LIMITED with retryAfterSeconds for a 429', async () => {
    const client = createLlamaCloudClient({ baseUrl: fake.baseUrl, apiKey: fake.apiKey });
    fake.rateLimitNext(7);

    const error = await rejection(client.parseV2(JOB));

    expect(error).toMatchObject({
      code: 'LLAMACLOUD_RATE_LIMITED',
      status: 429,
      retryAfterSeconds: 7,
      retryable: true,
    });
    expect(error.message).toMatch(/Retry after 7 s/);
    // Only the next request was limited.
    await expect(client.parseV2(JOB)).resolves.toMatchObject({ status: 'PENDING' });
  });

  it('reads an HTTP-date Retry-After as seconds from now', async () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    const client = createLlamaCloudClient({
      baseUrl: fake.baseUrl,
      apiKey: fake.apiKey,
      now: () => now,
    });
    fake.failNext({ status: 503, headers: { 'retry-after': 'Wed, 01 Jan 2025 00:00:30 GMT' } });

    const error = await rejection(client.getJobV1('job-1'));

    expect(error).toMatchObject({ code: 'LLAMACLOUD_UNAVAILABLE', retryAfterSeconds: 30 });
  });

  it('says LLAMACLOUD_UNAVAILABLE, retryable, for a 5xx', async () => {
    const client = createLlamaCloudClient({ baseUrl: fake.baseUrl, apiKey: fake.apiKey });
    fake.failNext({ status: 502, detail: 'Bad gateway' });

    const error = await rejection(client.getJobV2('job-1'));

    expect(error).toMatchObject({
      code: 'LLAMACLOUD_UNAVAILABLE',
      status: 502,
      detail: 'Bad gateway',
      retryable: true,
    });
  });

  it('says LLAMACLOUD_TIMEOUT when the server never answers within timeoutMs', async () => {
    const silent = await listen(() => {
      // Never answers.
    });
    try {
      const apiKey = 'llx-timeout-key';
      const client = createLlamaCloudClient({ baseUrl: urlOf(silent), apiKey, timeoutMs: 150 });
      const started = Date.now();

      const error = await rejection(client.getJobV2('job-1'));

      expect(error).toMatchObject({ code: 'LLAMACLOUD_TIMEOUT', retryable: true });
      expect(error.message).toMatch(/within 150 ms/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(everythingShown(error)).not.toContain(apiKey);
    } finally {
      await closeServer(silent);
    }
  });

  it('says LLAMACLOUD_TIMEOUT when the body stalls after the headers came in time', async () => {
    const stalling = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"job": {"id": "job-1", ');
      // The rest never comes.
    });
    try {
      const client = createLlamaCloudClient({
        baseUrl: urlOf(stalling),
        apiKey: 'llx-k',
        timeoutMs: 200,
      });
      const started = Date.now();

      const error = await rejection(client.getJobV2('job-1'));

      expect(error).toMatchObject({ code: 'LLAMACLOUD_TIMEOUT', retryable: true });
      expect(Date.now() - started).toBeGreaterThanOrEqual(190);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await closeServer(stalling);
    }
  });

  it('follows no redirect: a 302 is LLAMACLOUD_BAD_RESPONSE and the key stays here', async () => {
    let elsewhere = 0;
    const other = await listen((_req, res) => {
      elsewhere++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    const redirecting = await listen((_req, res) => {
      res.writeHead(302, { location: `${urlOf(other)}/api/v2/parse/job-1` }).end();
    });
    try {
      const client = createLlamaCloudClient({ baseUrl: urlOf(redirecting), apiKey: 'llx-k' });

      const error = await rejection(client.getJobV2('job-1'));

      expect(error).toMatchObject({ code: 'LLAMACLOUD_BAD_RESPONSE', status: 302 });
      expect(elsewhere).toBe(0);
    } finally {
      await closeServer(redirecting);
      await closeServer(other);
    }
  });

  it('says LLAMACLOUD_NETWORK when the connection is refused', async () => {
    const gone = await listen(() => undefined);
    const baseUrl = urlOf(gone);
    await closeServer(gone);
    const apiKey = 'llx-refused-key';
    const client = createLlamaCloudClient({ baseUrl, apiKey });

    const error = await rejection(client.getJobV1('job-1'));

    expect(error).toMatchObject({ code: 'LLAMACLOUD_NETWORK', retryable: true });
    expect(error.message).toMatch(/ECONNREFUSED/);
    expect(error.cause).toBeInstanceOf(Error);
    expect(everythingShown(error)).not.toContain(apiKey);
  });

  it('says LLAMACLOUD_BAD_RESPONSE for a body that is not JSON or not the documented shape', async () => {
    let answer = 'not json';
    const odd = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(answer);
    });
    try {
      const client = createLlamaCloudClient({ baseUrl: urlOf(odd), apiKey: 'llx-k' });

      expect(await rejection(client.getJobV1('job-1'))).toMatchObject({
        code: 'LLAMACLOUD_BAD_RESPONSE',
        retryable: false,
      });
      answer = JSON.stringify({ id: 'job-1', status: 'DONE' });
      const error = await rejection(client.getJobV1('job-1'));
      expect(error.code).toBe('LLAMACLOUD_BAD_RESPONSE');
      expect(error.message).toMatch(/status/);
      // Extra fields are fine.
      answer = JSON.stringify({ id: 'job-1', status: 'SUCCESS', error_code: null, extra: 1 });
      await expect(client.getJobV1('job-1')).resolves.toMatchObject({ status: 'SUCCESS' });
    } finally {
      await closeServer(odd);
    }
  });

  it('removes the API key from a detail that echoes it', async () => {
    const apiKey = 'llx-echoed-secret-key';
    const echo = await listen((req, res) => {
      const body = JSON.stringify({ detail: `Bad header: ${req.headers.authorization}` });
      res.writeHead(403, { 'content-type': 'application/json' }).end(body);
    });
    try {
      const client = createLlamaCloudClient({ baseUrl: urlOf(echo), apiKey });

      const error = await rejection(client.getJobV2('job-1'));

      expect(error).toMatchObject({ code: 'LLAMACLOUD_UNAUTHORIZED', status: 403 });
      expect(error.detail).toBe('Bad header: Bearer [redacted]');
      expect(everythingShown(error)).not.toContain(apiKey);
    } finally {
      await closeServer(echo);
    }
  });
});
