import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startReceiver, type Receiver } from '../../test/receiver.js';
import { createLlamaCloudClient, type LlamaCloudClient } from '../index.js';
import {
  startLlamaCloudFake,
  type LlamaCloudFake,
  type LlamaCloudFakeOptions,
} from '../testing.js';

const PUBLIC_BASE = 'https://hooks.example.com';
const PDF = { name: 'report.pdf', content: Buffer.from('%PDF-1.4 fake') };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The events of a job's end, today's names: what most tests here subscribe to. */
const ENDINGS = ['parse.success', 'parse.partial_success', 'parse.error', 'parse.cancelled'];

/** A webhook configuration, in short: `events` defaults to {@link ENDINGS}, `all` lists none. */
interface Hook {
  url: string;
  signingSecret?: string;
  events?: string[] | 'all';
  headers?: Record<string, string>;
  outputFormat?: 'string' | 'json';
}

/** The v2 job parameters for `hook`: the SDK's fields. */
function job(hook: Hook) {
  return {
    tier: 'cost_effective',
    version: 'latest',
    webhook_configurations: [
      {
        webhook_url: hook.url,
        ...(hook.signingSecret !== undefined && { webhook_signing_secret: hook.signingSecret }),
        ...(hook.events !== 'all' && { webhook_events: hook.events ?? ENDINGS }),
        ...(hook.headers !== undefined && { webhook_headers: hook.headers }),
        ...(hook.outputFormat !== undefined && { webhook_output_format: hook.outputFormat }),
      },
    ],
  };
}

describe('the fake sends callbacks like LlamaCloud', () => {
  let fake: LlamaCloudFake;
  let receiver: Receiver;
  let client: LlamaCloudClient;

  /** A fake whose public callback URLs lead to the local receiver (same path). */
  async function start(
    answer?: Parameters<typeof startReceiver>[0],
    options: LlamaCloudFakeOptions = {},
  ) {
    receiver = await startReceiver(answer);
    fake = await startLlamaCloudFake({
      rewriteCallbackUrl: (url) => url.replace(PUBLIC_BASE, receiver.url),
      retryDelaysMs: [20, 40, 80],
      ...options,
    });
    client = createLlamaCloudClient({ baseUrl: fake.baseUrl, apiKey: fake.apiKey });
  }

  const parseV2 = (input: { fileId: string; webhook: Hook }) =>
    client.parseV2({ ...job(input.webhook), file_id: input.fileId });
  const uploadV2 = (input: { file: typeof PDF; configuration: { webhook: Hook } }) =>
    client.uploadV2(input.file, job(input.configuration.webhook));

  afterEach(async () => {
    await fake.close();
    await receiver.close();
  });

  it('posts the whole result without a job id to a v1 webhook_url', async () => {
    await start();
    const { id } = await client.uploadV1({
      file: PDF,
      webhookUrl: `${PUBLIC_BASE}/v1/callbacks/llamaparse/tok_v1`,
    });
    const image = { name: 'img_p0_1.png', height: 100, width: 100, x: 0, y: 0 };

    fake.complete(id, {
      pages: [
        { text: 'page 1 raw text', markdown: 'page 1 markdown text', images: [image] },
        { text: 'page 2 raw text', markdown: 'page 2 markdown text' },
      ],
    });
    const [callback] = await receiver.waitFor(1);

    expect(callback?.method).toBe('POST');
    expect(callback?.path).toBe('/v1/callbacks/llamaparse/tok_v1');
    expect(callback?.headers['content-type']).toBe('application/json');
    expect(callback?.headers['user-agent']).toBe('llamaindex-webhook-service/1.0');
    expect(callback?.headers['lc-signature']).toBeUndefined();
    expect(callback?.headers['x-webhook-event-id']).toBeUndefined();
    expect(JSON.parse(callback?.body ?? '')).toEqual({
      txt: 'page 1 raw text\n\npage 2 raw text',
      md: 'page 1 markdown text\n\n---\n\npage 2 markdown text',
      json: [
        { page: 1, text: 'page 1 raw text', md: 'page 1 markdown text', images: [image] },
        { page: 2, text: 'page 2 raw text', md: 'page 2 markdown text', images: [] },
      ],
      images: ['img_p0_1.png'],
    });
    expect(callback?.body).not.toContain(id);
  });

  it('sends nothing to a v1 webhook_url when the job fails (undocumented, so left out)', async () => {
    await start();
    const { id } = await client.uploadV1({ file: PDF, webhookUrl: `${PUBLIC_BASE}/cb/v1` });

    fake.fail(id, 'broken');
    await fake.callbacksSettled();

    expect(receiver.received).toHaveLength(0);
  });

  it('sends the v2 envelope as a signed JSON string literal by default', async () => {
    await start();
    const secret = 'lc-signing-secret';
    const { id } = await parseV2({
      fileId: 'file-1',
      webhook: {
        url: `${PUBLIC_BASE}/v1/callbacks/llamaparse/tok_v2`,
        signingSecret: secret,
        headers: { 'X-Tenant': 'acme' },
      },
    });
    const before = Date.now() / 1000;

    fake.complete(id);
    const [callback] = await receiver.waitFor(1);

    const raw = callback?.body ?? '';
    expect(raw.startsWith('"')).toBe(true);
    const once: unknown = JSON.parse(raw);
    expect(typeof once).toBe('string');
    const envelope = JSON.parse(once as string) as Record<string, unknown>;
    expect(envelope).toEqual({
      event_id: expect.stringMatching(UUID),
      event_type: 'parse.success',
      timestamp: expect.any(Number),
      data: { id, job_id: id },
    });
    expect(envelope['timestamp']).toBeGreaterThanOrEqual(before - 1);
    expect(envelope['timestamp']).toBeLessThanOrEqual(Date.now() / 1000 + 1);
    expect(callback?.headers).toMatchObject({
      'content-type': 'application/json',
      'user-agent': 'llamaindex-webhook-service/1.0',
      'x-webhook-event-id': envelope['event_id'],
      'x-webhook-event-type': 'parse.success',
      'x-tenant': 'acme',
    });
    const expected = createHmac('sha256', secret).update(raw).digest('hex');
    expect(callback?.headers['lc-signature']).toBe(`sha256=${expected}`);
  });

  it('stamps the envelope with the fake clock in float seconds', async () => {
    await start(undefined, { now: () => 1_753_985_275_115 });
    const { id } = await parseV2({
      fileId: 'f',
      webhook: { url: `${PUBLIC_BASE}/cb/clock`, outputFormat: 'json' },
    });

    fake.complete(id);
    const [callback] = await receiver.waitFor(1);

    expect(JSON.parse(callback?.body ?? '')).toMatchObject({ timestamp: 1_753_985_275.115 });
    expect(fake.callbackAttempts[0]?.at).toBe(1_753_985_275_115);
  });

  it('sends plain JSON without a signature for output format json and no secret', async () => {
    await start();
    const { id } = await uploadV2({
      file: PDF,
      configuration: { webhook: { url: `${PUBLIC_BASE}/cb/json`, outputFormat: 'json' } },
    });

    fake.fail(id, 'The document is password protected.');
    const [callback] = await receiver.waitFor(1);

    expect(JSON.parse(callback?.body ?? '')).toEqual({
      event_id: expect.stringMatching(UUID),
      event_type: 'parse.error',
      timestamp: expect.any(Number),
      data: { id, job_id: id },
    });
    expect(callback?.headers['lc-signature']).toBeUndefined();
    expect(callback?.headers['x-webhook-event-type']).toBe('parse.error');
  });

  it('sends parse.cancelled and parse.partial_success for those endings', async () => {
    await start();
    const webhook = { url: `${PUBLIC_BASE}/cb/ends`, outputFormat: 'json' as const };
    const cancelled = await parseV2({ fileId: 'a', webhook });
    const partial = await parseV2({ fileId: 'b', webhook });

    fake.cancel(cancelled.id);
    fake.complete(partial.id, { pages: [{ text: 'ok' }, { error: 'page 2 timed out' }] });
    await receiver.waitFor(2);

    const types = receiver.received.map((r) => r.headers['x-webhook-event-type']).sort();
    expect(types).toEqual(['parse.cancelled', 'parse.partial_success']);
  });

  it('sends only the events listed in webhook_events', async () => {
    await start();
    const webhook = {
      url: `${PUBLIC_BASE}/cb/filtered`,
      events: ['parse.running', 'parse.error'],
      outputFormat: 'json' as const,
    };
    const succeeded = await parseV2({ fileId: 'a', webhook });
    const failed = await parseV2({ fileId: 'b', webhook });

    fake.setRunning(failed.id);
    fake.complete(succeeded.id);
    fake.fail(failed.id, 'nope');
    await fake.callbacksSettled();

    // Callbacks are sent concurrently, as LlamaCloud's are: their order of arrival is not promised.
    const got = receiver.received.map((r) => JSON.parse(r.body) as { event_type: string });
    expect(got.map((e) => e.event_type).sort()).toEqual(['parse.error', 'parse.running']);
  });

  it("sends every event under today's names to a webhook that lists none", async () => {
    await start();
    const webhook: Hook = { url: `${PUBLIC_BASE}/cb/all`, events: 'all', outputFormat: 'json' };
    const { id } = await parseV2({ fileId: 'a', webhook });

    fake.setRunning(id);
    fake.complete(id);
    await fake.callbacksSettled();

    expect(receiver.received.map((r) => r.headers['x-webhook-event-type']).sort()).toEqual([
      'parse.pending',
      'parse.running',
      'parse.success',
    ]);
  });

  it('sends the older parse.failure and parse.partial to a webhook that lists them', async () => {
    await start();
    const older: Hook = {
      url: `${PUBLIC_BASE}/cb/older`,
      events: ['parse.success', 'parse.failure', 'parse.partial'],
      outputFormat: 'json',
    };
    const failed = await parseV2({ fileId: 'a', webhook: older });
    const partial = await parseV2({ fileId: 'b', webhook: older });

    fake.fail(failed.id, 'nope');
    fake.complete(partial.id, { pages: [{ text: 'ok' }, { error: 'page 2 timed out' }] });
    await fake.callbacksSettled();

    const got = receiver.received.map((r) => JSON.parse(r.body) as { event_type: string });
    expect(got.map((e) => e.event_type).sort()).toEqual(['parse.failure', 'parse.partial']);
  });

  it('sends both names of an ending to a webhook that lists both', async () => {
    await start();
    const both: Hook = {
      url: `${PUBLIC_BASE}/cb/both`,
      events: ['parse.error', 'parse.failure'],
      outputFormat: 'json',
    };
    const { id } = await parseV2({ fileId: 'a', webhook: both });

    fake.fail(id, 'nope');
    await fake.callbacksSettled();

    const types = receiver.received.map((r) => r.headers['x-webhook-event-type']).sort();
    expect(types).toEqual(['parse.error', 'parse.failure']);
    expect(new Set(receiver.received.map((r) => r.headers['x-webhook-event-id'])).size).toBe(2);
  });

  it('sends to every webhook configuration of a job, each with its own events', async () => {
    await start();
    const { id } = await client.parseV2({
      tier: 'cost_effective',
      version: 'latest',
      file_id: 'f',
      webhook_configurations: [
        { webhook_url: `${PUBLIC_BASE}/cb/one`, webhook_events: ['parse.success'] },
        { webhook_url: `${PUBLIC_BASE}/cb/two`, webhook_events: ['parse.error'] },
        { webhook_url: `${PUBLIC_BASE}/cb/three`, webhook_output_format: 'json' },
      ],
    });

    fake.complete(id);
    await fake.callbacksSettled();

    const got = receiver.received.map((r) => `${r.path} ${r.headers['x-webhook-event-type']}`);
    expect(got.sort()).toEqual([
      '/cb/one parse.success',
      '/cb/three parse.pending',
      '/cb/three parse.success',
    ]);
  });

  it('tries 3 times with the configured waits when the receiver answers 500, then gives up', async () => {
    await start(() => 500, { retryDelaysMs: [50, 250, 10_000] });
    const { id } = await parseV2({
      fileId: 'f',
      webhook: { url: `${PUBLIC_BASE}/cb/down`, outputFormat: 'json' },
    });

    fake.complete(id);
    await fake.callbacksSettled();

    expect(receiver.received).toHaveLength(3);
    expect(fake.callbackAttempts.map((a) => [a.attempt, a.status])).toEqual([
      [1, 500],
      [2, 500],
      [3, 500],
    ]);
    const [first, second, third] = fake.callbackAttempts.map((a) => a.at);
    expect((second ?? 0) - (first ?? 0)).toBeGreaterThanOrEqual(45);
    // The second wait is the second delay, not the last one (far apart, so a slow machine
    // cannot blur them).
    expect((third ?? 0) - (second ?? 0)).toBeGreaterThanOrEqual(245);
    expect((third ?? 0) - (second ?? 0)).toBeLessThan(5_000);
    expect(fake.callbackAttempts[0]).toMatchObject({ jobId: id, url: `${receiver.url}/cb/down` });
    expect(new Set(receiver.received.map((r) => r.body)).size).toBe(1);
    expect(fake.callbacks).toMatchObject([{ jobId: id, outcome: 'gave-up' }]);
  });

  it('stops retrying at the first 2xx', async () => {
    await start((_r, index) => (index === 0 ? 503 : 204));
    const { id } = await parseV2({
      fileId: 'f',
      webhook: { url: `${PUBLIC_BASE}/cb/once` },
    });

    fake.complete(id);
    await fake.callbacksSettled();

    expect(fake.callbackAttempts.map((a) => a.status)).toEqual([503, 204]);
    expect(fake.callbacks[0]?.outcome).toBe('delivered');
  });

  it('cuts an attempt after timeoutMs when the receiver never answers', async () => {
    await start(() => 0, { timeoutMs: 100, maxAttempts: 2 });
    const { id } = await parseV2({
      fileId: 'f',
      webhook: { url: `${PUBLIC_BASE}/cb/slow` },
    });

    fake.complete(id);
    await fake.callbacksSettled();

    expect(fake.callbackAttempts).toMatchObject([
      { attempt: 1, error: 'no answer within 100 ms' },
      { attempt: 2, error: 'no answer within 100 ms' },
    ]);
    expect(fake.callbacks[0]?.outcome).toBe('gave-up');
  });

  it('records a refused connection as an attempt error', async () => {
    await start(undefined, { maxAttempts: 1 });
    await receiver.close();
    const { id } = await parseV2({ fileId: 'f', webhook: { url: `${PUBLIC_BASE}/cb/x` } });

    fake.complete(id);
    await fake.callbacksSettled();

    expect(fake.callbackAttempts[0]?.error).toMatch(/ECONNREFUSED/);
  });

  it('sends nothing for a job dropCallbacks picks', async () => {
    let dropped = '';
    await start(undefined, { dropCallbacks: (jobId) => jobId === dropped });
    const webhook = { url: `${PUBLIC_BASE}/cb/drop` };
    dropped = (await parseV2({ fileId: 'a', webhook })).id;
    const kept = await parseV2({ fileId: 'b', webhook });

    fake.complete(dropped);
    fake.complete(kept.id);
    await fake.callbacksSettled();

    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]?.body).toContain(kept.id);
    expect(fake.callbackAttempts.every((a) => a.jobId === kept.id)).toBe(true);
    expect(fake.callbacks.find((c) => c.jobId === dropped)?.outcome).toBe('dropped');
  });

  it('sends a callback twice with the same event_id for a job duplicateCallbacks picks', async () => {
    await start(undefined, { duplicateCallbacks: () => true });
    const { id } = await parseV2({ fileId: 'a', webhook: { url: `${PUBLIC_BASE}/cb/dup` } });

    fake.complete(id);
    await fake.callbacksSettled();

    expect(receiver.received).toHaveLength(2);
    const [first, second] = receiver.received;
    expect(first?.body).toBe(second?.body);
    expect(first?.headers['x-webhook-event-id']).toBe(second?.headers['x-webhook-event-id']);
  });

  it('aborts a callback waiting for its next attempt on close, leaving no timer behind', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    await start(() => 500, { retryDelaysMs: [10_000] });
    const before = timers();
    const { id } = await parseV2({ fileId: 'a', webhook: { url: `${PUBLIC_BASE}/cb/w` } });
    fake.complete(id);
    await receiver.waitFor(1);
    const started = Date.now();

    await fake.close();

    expect(Date.now() - started).toBeLessThan(5_000);
    expect(fake.callbacks[0]?.outcome).toBe('aborted');
    expect(timers()).toBeLessThanOrEqual(before);
    expect(fake.callbackAttempts).toHaveLength(1);
  });
});
