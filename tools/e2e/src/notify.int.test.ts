import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGatewayClient } from '@callback-gateway/client';
import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_TOKEN, postCallback, startStack, until, type Stack } from './stack.js';

const SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;

describe('operational notifications from the running worker', () => {
  let redis: TestRedis;
  let stack: Stack;
  let receiver: Server;
  let pipeline: Server;
  const notifications: Record<string, unknown>[] = [];
  const rejected: string[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        try {
          notifications.push(
            new Webhook(SECRET).verify(Buffer.concat(chunks).toString('utf8'), {
              'webhook-id': String(request.headers['webhook-id']),
              'webhook-timestamp': String(request.headers['webhook-timestamp']),
              'webhook-signature': String(request.headers['webhook-signature']),
            }) as Record<string, unknown>,
          );
        } catch (error) {
          rejected.push(String(error));
        }
        response.writeHead(204).end();
      });
    });
    pipeline = createServer((_request, response) => response.writeHead(500).end());
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => pipeline.listen(0, '127.0.0.1', resolve));
    stack = await startStack(redis, {
      NOTIFY_WEBHOOK_URLS: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/ops`,
      NOTIFY_WEBHOOK_SECRET: SECRET,
      DELIVERY_BREAKER_FAILURES: '3',
    });
  });
  afterAll(async () => {
    await stack?.stop();
    await new Promise<void>((resolve) => receiver?.close(() => resolve()));
    await new Promise<void>((resolve) => pipeline?.close(() => resolve()));
    await redis?.close();
  });

  it('tells, signed, that a pipeline is failing (its breaker opened)', async () => {
    const client = createGatewayClient({ baseUrl: stack.gatewayUrl, token: API_TOKEN });
    const registration = await client.register({
      deliverTo: `http://127.0.0.1:${(pipeline.address() as AddressInfo).port}/hook`,
    });
    for (let i = 0; i < 3; i++) {
      await postCallback(stack, registration.callbackUrl, {
        event_id: `ops-${i}`,
        event_type: 'parse.running',
        data: { job_id: 'j' },
      });
    }
    await until(
      () => notifications.some((n) => String(n['type']).startsWith('operational.pipeline_failing')),
      30_000,
    );
    const failing = notifications.find((n) =>
      String(n['type']).startsWith('operational.pipeline_failing'),
    );
    expect(failing).toMatchObject({ severity: 'critical', source: 'worker' });
    expect(rejected).toEqual([]);
  });
});
