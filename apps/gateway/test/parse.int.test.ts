import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_TOKEN, PIPELINE, startGateway, type TestGateway } from './harness.js';

describe('parse submissions API', () => {
  let redis: TestRedis;
  let gateway: TestGateway;
  let base: string;
  const auth = { authorization: `Bearer ${API_TOKEN}` };
  beforeAll(async () => {
    redis = await startRedis();
    gateway = await startGateway({ redis, uploadLimitBytes: 64 * 1024 });
    base = await gateway.app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await gateway.close();
    await redis.close();
  });

  const upload = (form: FormData, headers: Record<string, string> = auth) =>
    fetch(`${base}/v1/parse`, { method: 'POST', headers, body: form });

  it('queues a document given by URL, for the worker to register and submit', async () => {
    const response = await fetch(`${base}/v1/parse`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        source_url: 'https://docs.example.com/a.pdf',
        deliver_to: PIPELINE,
        metadata: { doc: 'a' },
      }),
    });
    expect(response.status).toBe(202);
    const submission = (await response.json()) as { id: string; state: string; api: string };
    expect(submission).toMatchObject({ state: 'queued', api: 'v2' });
    const job = await gateway.parseQueue.getJob(submission.id);
    expect(job?.data).toEqual({ submissionId: submission.id });
    const status = await fetch(`${base}/v1/parse/${submission.id}`, { headers: auth });
    expect(await status.json()).toMatchObject({
      id: submission.id,
      state: 'queued',
      source_url: 'https://docs.example.com/a.pdf',
      // The worker's defaults apply: it records them when it submits.
      tier: null,
      version: null,
    });
  });

  it('takes a tier and version for the v2 parse, known ones and newer ones of the right shape', async () => {
    const submit = (fields: Record<string, unknown>) =>
      fetch(`${base}/v1/parse`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({
          source_url: 'https://docs.example.com/a.pdf',
          deliver_to: PIPELINE,
          ...fields,
        }),
      });

    const known = await submit({ tier: 'agentic_plus', version: '2026-08-19' });
    const newer = await submit({ tier: 'agentic_max', version: '2027-01-01' });
    const form = new FormData();
    form.append('deliver_to', PIPELINE);
    form.append('tier', 'fast');
    form.append('version', 'latest');
    form.append('file', new Blob(['%PDF']), 'c.pdf');
    const uploaded = await upload(form);

    expect([known.status, newer.status, uploaded.status]).toEqual([202, 202, 202]);
    expect(await known.json()).toMatchObject({ tier: 'agentic_plus', version: '2026-08-19' });
    expect(await newer.json()).toMatchObject({ tier: 'agentic_max', version: '2027-01-01' });
    const { id } = (await uploaded.json()) as { id: string };
    const status = await fetch(`${base}/v1/parse/${id}`, { headers: auth });
    expect(await status.json()).toMatchObject({ tier: 'fast', version: 'latest' });
  });

  it('refuses a tier or version that cannot be one, naming the known tiers, and either on v1', async () => {
    const submit = (fields: Record<string, unknown>) =>
      fetch(`${base}/v1/parse`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({
          source_url: 'https://docs.example.com/a.pdf',
          deliver_to: PIPELINE,
          ...fields,
        }),
      });

    const badTier = await submit({ tier: 'Premium' });
    const badVersion = await submit({ version: 'v 2' });
    const notText = await submit({ tier: 3 });
    const onV1 = await submit({ api: 'v1', tier: 'fast' });

    for (const response of [badTier, badVersion, notText, onV1]) {
      expect(response.status).toBe(400);
    }
    expect(await badTier.json()).toMatchObject({
      error: 'invalid_request',
      issues: [
        {
          path: 'tier',
          message: expect.stringContaining('fast, cost_effective, agentic, agentic_plus'),
        },
      ],
    });
    expect(await badVersion.json()).toMatchObject({ issues: [{ path: 'version' }] });
    expect(await notText.json()).toMatchObject({ issues: [{ path: 'tier' }] });
    expect(((await onV1.json()) as { message: string }).message).toMatch(/v1 upload has neither/);
  });

  it('queues an uploaded file with its fields', async () => {
    const form = new FormData();
    form.append('deliver_to', PIPELINE);
    form.append('api', 'v1');
    form.append('metadata', JSON.stringify({ doc: 'b' }));
    form.append(
      'file',
      new Blob([Buffer.from('%PDF-1.4 hello')], { type: 'application/pdf' }),
      'b.pdf',
    );
    const response = await upload(form);
    expect(response.status).toBe(202);
    const submission = (await response.json()) as { id: string; file: unknown; api: string };
    expect(submission.file).toEqual({ name: 'b.pdf', size: 14, contentType: 'application/pdf' });
    expect(submission.api).toBe('v1');
    expect(
      (
        await gateway.redis.getBuffer(`{${gateway.keys.prefix}}:sub:${submission.id}:file`)
      )?.toString(),
    ).toBe('%PDF-1.4 hello');
  });

  it('refuses what it cannot submit: no document, two documents, a private destination, too large, no token', async () => {
    const none = new FormData();
    none.append('deliver_to', PIPELINE);
    expect((await upload(none)).status).toBe(400);

    const both = new FormData();
    both.append('deliver_to', PIPELINE);
    both.append('source_url', 'https://docs.example.com/a.pdf');
    both.append('file', new Blob(['x']), 'x.pdf');
    const twice = await upload(both);
    expect(twice.status).toBe(400);
    expect(((await twice.json()) as { message: string }).message).toContain('exactly one');

    const internal = new FormData();
    internal.append('deliver_to', 'http://10.0.0.8/hook');
    internal.append('file', new Blob(['x']), 'x.pdf');
    const refused = await upload(internal);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({
      error: 'destination_refused',
      code: 'OUTBOUND_PRIVATE_ADDRESS',
    });

    const large = new FormData();
    large.append('deliver_to', PIPELINE);
    large.append('file', new Blob([Buffer.alloc(70 * 1024)]), 'big.pdf');
    const tooLarge = await upload(large);
    expect(tooLarge.status).toBe(413);
    expect(((await tooLarge.json()) as { error: string }).error).toBe('payload_too_large');

    const anonymous = new FormData();
    anonymous.append('deliver_to', PIPELINE);
    anonymous.append('file', new Blob(['x']), 'x.pdf');
    expect((await upload(anonymous, {})).status).toBe(401);
    expect(
      (await fetch(`${base}/v1/parse/sub_00000000000000000000000000000000`, { headers: auth }))
        .status,
    ).toBe(404);
  });
});
