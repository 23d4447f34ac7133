import { createLlamaCloudClient, type LlamaCloudClient } from '@callback-gateway/llamacloud';
import { startLlamaCloudFake, type LlamaCloudFake } from '@callback-gateway/llamacloud/testing';
import type { Registration } from '@callback-gateway/store';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkJob } from './recover.js';

const PDF = { name: 'a.pdf', content: Buffer.from('%PDF') };
const CALLBACK_URL = 'https://hooks.example.com/v1/callbacks/llamaparse/tok';

function registration(parseJobId: string, parseApi: Registration['parseApi']): Registration {
  const now = new Date().toISOString();
  return {
    id: 'reg_0123456789abcdef0123456789abcdef',
    source: 'llamaparse',
    deliverTo: 'https://pipeline.example.com/in',
    parseJobId,
    parseApi,
    metadata: undefined,
    signingSecret: 'signing-secret',
    deliverySecret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    requireSignature: false,
    callbackBaseUrl: 'https://hooks.example.com',
    callbackUrlSource: 'cloud_config',
    apiClient: 'test',
    state: 'overdue',
    callbacksReceived: 0,
    createdAt: now,
    expiresAt: now,
    expectCallbackBy: now,
    lastCallbackAt: undefined,
    deliveryStopped: undefined,
  };
}

describe('reconciliation asks the API the job was submitted to', () => {
  let fake: LlamaCloudFake;
  let client: LlamaCloudClient;

  beforeEach(async () => {
    fake = await startLlamaCloudFake({ dropCallbacks: () => true });
    client = createLlamaCloudClient({ baseUrl: fake.baseUrl, apiKey: fake.apiKey });
  });
  afterEach(() => fake.close());

  const v2Job = async () =>
    (await client.parseV2({ tier: 'cost_effective', version: 'latest', file_id: 'f' })).id;
  const v1Job = async () => (await client.uploadV1({ file: PDF, webhookUrl: CALLBACK_URL })).id;
  const paths = () => fake.requests.filter((r) => r.method === 'GET').map((r) => r.path);

  it('polls a v1 job on the v1 API alone, and rebuilds its legacy result', async () => {
    const jobId = await v1Job();
    fake.complete(jobId, { pages: [{ text: 'raw', markdown: '# Md' }] });

    const check = await checkJob(client, registration(jobId, 'v1'));

    expect(check).toMatchObject({ state: 'ended', status: 'SUCCESS' });
    expect(paths().every((path) => path.startsWith(`/api/parsing/job/${jobId}`))).toBe(true);
    expect(paths()).toContain(`/api/parsing/job/${jobId}`);
    if (check.state !== 'ended') throw new Error('unreachable');
    expect(JSON.parse(String(check.callback.payloadJson))).toMatchObject({
      md: '# Md',
      txt: 'raw',
    });
  });

  it('polls a v2 job on the v2 API alone, never trying v1', async () => {
    const jobId = await v2Job();
    fake.setRunning(jobId);

    expect(await checkJob(client, registration(jobId, 'v2'))).toEqual({
      state: 'running',
      status: 'RUNNING',
    });
    fake.fail(jobId, 'The document is encrypted.');
    const check = await checkJob(client, registration(jobId, 'v2'));

    expect(check).toMatchObject({
      state: 'ended',
      status: 'FAILED',
      callback: { eventType: 'parse.error' },
    });
    expect(paths()).toEqual([`/api/v2/parse/${jobId}`, `/api/v2/parse/${jobId}`]);
  });

  it('asks v2 when nobody said which API, and does not fall back to v1 on a 404', async () => {
    const jobId = await v1Job();

    const asked = checkJob(client, registration(jobId, undefined));

    await expect(asked).rejects.toMatchObject({ code: 'LLAMACLOUD_NOT_FOUND' });
    expect(paths()).toEqual([`/api/v2/parse/${jobId}`]);
  });

  it('reports a v2 job that completed with failed pages as parse.partial_success', async () => {
    const whole = await v2Job();
    const partial = await v2Job();
    fake.complete(whole, { pages: [{ markdown: 'one' }, { markdown: 'two' }] });
    fake.complete(partial, { pages: [{ markdown: 'one' }, { error: 'page 2 timed out' }] });

    const [wholeCheck, partialCheck] = [
      await checkJob(client, registration(whole, 'v2')),
      await checkJob(client, registration(partial, 'v2')),
    ];

    expect(wholeCheck).toMatchObject({
      status: 'COMPLETED',
      callback: { eventType: 'parse.success' },
    });
    expect(partialCheck).toMatchObject({
      status: 'COMPLETED',
      callback: { eventType: 'parse.partial_success' },
    });
    if (partialCheck.state !== 'ended') throw new Error('unreachable');
    expect(JSON.parse(String(partialCheck.callback.payloadJson))).toMatchObject({
      event_type: 'parse.partial_success',
      data: { job_id: partial, status: 'COMPLETED' },
      reconciled: true,
    });
  });
});
