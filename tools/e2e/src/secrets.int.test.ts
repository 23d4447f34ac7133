import { createHmac } from 'node:crypto';
import { createGatewayClient } from '@callback-gateway/client';
import { startLlamaCloudFake, type LlamaCloudFake } from '@callback-gateway/llamacloud/testing';
import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_TOKEN,
  postCallback,
  startStack,
  startTestPipeline,
  until,
  type Stack,
  type TestPipeline,
} from './stack.js';

const NGROK_AUTHTOKEN = '2abcDEFghiJKLmnoPQRstu_3vwxYZ0123456789abcdef';

describe('no secret in any log line or audit record', () => {
  let redis: TestRedis;
  let stack: Stack;
  let pipeline: TestPipeline;
  let fake: LlamaCloudFake;
  beforeAll(async () => {
    redis = await startRedis();
    pipeline = await startTestPipeline(() => 'whsec_unused');
    fake = await startLlamaCloudFake({ dropCallbacks: () => true });
    stack = await startStack(redis, {
      LOG_LEVEL: 'debug',
      LLAMA_CLOUD_BASE_URL: fake.baseUrl,
      LLAMA_CLOUD_API_KEY: fake.apiKey,
      NGROK_AUTHTOKEN,
    });
  });
  afterAll(async () => {
    await stack?.stop();
    await fake?.close();
    await pipeline?.close();
    await redis?.close();
  });

  it('keeps tokens, signing and delivery secrets, callback tokens and keys out of logs and audit', async () => {
    const client = createGatewayClient({ baseUrl: stack.gatewayUrl, token: API_TOKEN });
    const registration = await client.register({ deliverTo: pipeline.url('/secret') });
    const callbackToken = registration.callbackUrl.split('/').pop() ?? '';
    // A delivered callback, a badly signed one, an unknown token, a wrong API token, a submission.
    const body = JSON.stringify({
      event_id: 's-1',
      event_type: 'parse.running',
      data: { job_id: 'j' },
    });
    await postCallback(stack, registration.callbackUrl, JSON.parse(body));
    await fetch(`${stack.gatewayUrl}${new URL(registration.callbackUrl).pathname}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'lc-signature': `sha256=${createHmac('sha256', 'wrong').update(body).digest('hex')}`,
      },
      body,
    });
    await fetch(`${stack.gatewayUrl}/v1/registrations`, {
      method: 'POST',
      headers: { authorization: `Bearer not-${API_TOKEN}`, 'content-type': 'application/json' },
      body: '{}',
    });
    await fetch(`${stack.gatewayUrl}/v1/parse`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        source_url: 'https://docs.example.com/a.pdf',
        deliver_to: pipeline.url('/secret'),
      }),
    });
    await until(() => pipeline.received.includes('/secret'));
    await until(() => fake.submissions.length > 0);
    await new Promise((resolve) => setTimeout(resolve, 500));

    const store = new Redis(redis.url);
    const probeKey = (await store.get('cbgw:webhook-url:probe-key')) ?? '';
    // Every audit stream: the main one and each registration's.
    const auditKeys = await store.keys('*audit*');
    expect(auditKeys).toContain(`{cbgw}:audit:reg:${registration.id}`);
    const audit = JSON.stringify(
      await Promise.all(auditKeys.map((key) => store.xrange(key, '-', '+'))),
    );
    store.disconnect();
    const output = [...stack.gateway.lines, ...stack.worker.lines].join('\n');
    expect(output.length).toBeGreaterThan(1_000);
    expect(audit).toContain('callback.received');
    for (const [name, secret] of Object.entries({
      apiToken: API_TOKEN,
      signingSecret: registration.signingSecret,
      deliverySecret: registration.deliverySecret,
      callbackToken,
      llamaCloudKey: fake.apiKey,
      ngrokAuthtoken: NGROK_AUTHTOKEN,
      probeKey,
    })) {
      expect(secret.length, name).toBeGreaterThan(10);
      expect(output.includes(secret), `${name} in a log line`).toBe(false);
      expect(audit.includes(secret), `${name} in an audit record`).toBe(false);
    }
  });
});
