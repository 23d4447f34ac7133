import { createHmac } from 'node:crypto';
import type { LlamaCloudFake } from '@callback-gateway/llamacloud/testing';
import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_TOKEN,
  startStackWithLlamaCloud,
  startTestPipeline,
  until,
  type Stack,
  type TestPipeline,
} from './stack.js';

const auth = { authorization: `Bearer ${API_TOKEN}` };

describe('expected callbacks: overdue and reconciliation against the LlamaCloud fake', () => {
  let redis: TestRedis;
  let store: Redis;
  let stack: Stack;
  let pipeline: TestPipeline;
  let fake: LlamaCloudFake;
  const dropped = new Set<string>();

  beforeAll(async () => {
    redis = await startRedis({ persistent: true });
    store = new Redis(redis.url);
    pipeline = await startTestPipeline((path) => secretsByPath.get(path) ?? '');
    ({ stack, fake } = await startStackWithLlamaCloud(redis, {
      dropped,
      env: {
        RECONCILE_GATEWAY_SILENCE_MS: '1500',
      },
    }));
  });
  afterAll(async () => {
    await stack?.stop();
    await fake?.close();
    await pipeline?.close();
    store?.disconnect();
    await redis?.close();
  });

  const secretsByPath = new Map<string, string>();
  /** Submits a document through the gateway; resolves once LlamaParse (the fake) has the job. */
  const submit = async (path: string, expectWithinS = 3_600) => {
    const response = await fetch(`${stack.gatewayUrl}/v1/parse`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        source_url: 'https://docs.example.com/doc.pdf',
        deliver_to: pipeline.url(path),
        expect_callback_within_s: expectWithinS,
      }),
    });
    const { id } = (await response.json()) as { id: string };
    let view = { state: '', registration_id: '', parse_job_id: '' };
    await until(async () => {
      view = (await (
        await fetch(`${stack.gatewayUrl}/v1/parse/${id}`, { headers: auth })
      ).json()) as typeof view;
      return view.state === 'submitted';
    });
    secretsByPath.set(
      path,
      (await store.hget(`{cbgw}:reg:${view.registration_id}`, 'delivery_secret')) ?? '',
    );
    return { registrationId: view.registration_id, jobId: view.parse_job_id };
  };
  const receipts = (path: string) => pipeline.receipts.filter((receipt) => receipt.path === path);

  it('delivers, through reconciliation, a result whose callback was dropped', async () => {
    const { registrationId, jobId } = await submit('/dropped', 1);
    dropped.add(jobId);
    fake.complete(jobId);
    await until(() => receipts('/dropped').length === 1);
    expect(receipts('/dropped')[0]?.delivery).toMatchObject({
      type: 'parse.success',
      parseJobId: jobId,
      reconciled: true,
    });
    const registration = (await (
      await fetch(`${stack.gatewayUrl}/v1/registrations/${registrationId}`, { headers: auth })
    ).json()) as {
      state: string;
    };
    expect(['received', 'delivering', 'delivered']).toContain(registration.state);
  });

  it('marks overdue, keeps asking about a job that still runs, and delivers a failure as a failure event', async () => {
    const { registrationId, jobId } = await submit('/failing', 1);
    dropped.add(jobId);
    fake.setRunning(jobId);
    await until(async () => {
      const list = (await (
        await fetch(`${stack.gatewayUrl}/v1/registrations?state=overdue`, { headers: auth })
      ).json()) as {
        registrations: { id: string; state: string }[];
      };
      return list.registrations.some(
        (entry) => entry.id === registrationId && entry.state === 'overdue',
      );
    });
    await until(async () =>
      /cbgw_reconciliations_total\{outcome="running",process="worker"\} [1-9]/.test(
        await (await fetch(`${stack.workerUrl}/metrics`)).text(),
      ),
    );
    expect(receipts('/failing')).toHaveLength(0);
    fake.fail(jobId, 'the document is encrypted');
    await until(() => receipts('/failing').length === 1);
    expect(receipts('/failing')[0]?.delivery).toMatchObject({
      type: 'parse.error',
      reconciled: true,
    });
    expect(receipts('/failing')[0]?.delivery.payload).toMatchObject({
      data: { error_message: 'the document is encrypted' },
    });
  });

  it('delivers once when the real callback arrives after the reconciled one', async () => {
    const { registrationId, jobId } = await submit('/late', 1);
    dropped.add(jobId);
    fake.complete(jobId);
    await until(() => receipts('/late').length === 1);
    // Now the real callback shows up, late, signed as LlamaCloud would sign it.
    const signingSecret =
      (await store.hget(`{cbgw}:reg:${registrationId}`, 'signing_secret')) ?? '';
    const sent = fake.submissions.find((entry) => entry.jobId === jobId);
    const body = JSON.stringify({
      event_id: 'real-late',
      event_type: 'parse.success',
      timestamp: 1,
      data: { id: jobId, job_id: jobId },
    });
    const late = await fetch(`${stack.gatewayUrl}${new URL(sent?.webhookUrl ?? '').pathname}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'lc-signature': `sha256=${createHmac('sha256', signingSecret).update(body).digest('hex')}`,
      },
      body,
    });
    expect(late.status).toBe(200);
    expect(await late.json()).toMatchObject({ duplicate: true });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receipts('/late')).toHaveLength(1);
  });

  it('delivers all 100 results exactly once after the gateway was down for 30 s while the parser gave up', async () => {
    const jobs = await Promise.all(Array.from({ length: 100 }, (_, i) => submit(`/outage/${i}`)));
    await stack.gateway.stop('SIGTERM');
    const outageStarted = Date.now();
    for (const { jobId } of jobs) fake.complete(jobId);
    await fake.callbacksSettled();
    const failedAttempts = fake.callbackAttempts.filter((attempt) =>
      jobs.some((job) => job.jobId === attempt.jobId),
    );
    expect(failedAttempts.length).toBeGreaterThanOrEqual(300);
    expect(
      failedAttempts.every((attempt) => attempt.status === undefined || attempt.status >= 500),
    ).toBe(true);
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, 30_000 - (Date.now() - outageStarted))),
    );
    await stack.restartGateway();
    await until(
      () =>
        new Set(
          pipeline.receipts
            .filter((r) => r.path.startsWith('/outage/'))
            .map((r) => r.delivery.webhookId),
        ).size === 100,
      60_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const outage = pipeline.receipts.filter((receipt) => receipt.path.startsWith('/outage/'));
    expect(outage).toHaveLength(100);
    expect(new Set(outage.map((receipt) => receipt.path)).size).toBe(100);
    expect(outage.every((receipt) => receipt.delivery.reconciled)).toBe(true);
  }, 150_000);
});
