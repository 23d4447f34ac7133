import { connect } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startRedis, type TestRedis } from '@callback-gateway/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_TOKEN,
  PIPELINE,
  callbackPath,
  register,
  startGateway,
  type TestGateway,
} from './harness.js';

describe('hostile input', () => {
  let redis: TestRedis;
  let gateway: TestGateway;
  let path: string;
  beforeAll(async () => {
    redis = await startRedis();
    gateway = await startGateway({ redis, bodyLimitBytes: 64 * 1024, requestTimeoutMs: 500 });
    path = callbackPath((await register(gateway)).callback_url);
  });
  afterAll(async () => {
    await gateway.close();
    await redis.close();
  });

  it('never answers 5xx nor stores anything but a JSON object, whatever the body and content type', async () => {
    const bodies = fc.oneof(
      fc.uint8Array({ maxLength: 2_000 }).map((bytes) => Buffer.from(bytes)),
      fc.json({ depthSize: 'large' }).map((text) => Buffer.from(text)),
      fc.json().map((text) => Buffer.from(JSON.stringify(text))),
      fc.string({ unit: 'binary', maxLength: 500 }).map((text) => Buffer.from(text)),
      fc.constant(Buffer.from(`${'['.repeat(20_000)}${']'.repeat(20_000)}`)),
      fc.constant(Buffer.from([0xc3, 0x28, 0x7b, 0x7d])),
    );
    const types = fc.constantFrom(
      undefined,
      'application/json',
      'application/json; charset=utf-16',
      'text/plain',
      'multipart/form-data; boundary=x',
      'application/x-www-form-urlencoded',
      'application/vnd.api+json',
    );
    await fc.assert(
      fc.asyncProperty(bodies, types, fc.boolean(), async (body, type, signed) => {
        const headers: Record<string, string> = {};
        if (type) headers['content-type'] = type;
        if (signed) headers['lc-signature'] = `sha256=${'0'.repeat(64)}`;
        const response = await gateway.app.inject({
          method: 'POST',
          url: path,
          headers,
          payload: body,
        });
        expect(response.statusCode).toBeLessThan(500);
        if (response.statusCode === 202) {
          const stored = await gateway.stored(response.json().callback_id);
          const value = JSON.parse(stored?.payloadJson ?? 'null') as unknown;
          expect(typeof value === 'object' && value !== null && !Array.isArray(value)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps its memory bounded under floods of hostile bodies: nothing grows from one flood to the next', async () => {
    // A collectable heap, to compare what survives each flood (not what is merely garbage yet).
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const bodies: [Buffer, string | undefined][] = [
      [Buffer.from(JSON.stringify({ md: 'x'.repeat(60_000) })), 'application/json'],
      [Buffer.from(`${'['.repeat(20_000)}${']'.repeat(20_000)}`), 'application/json'],
      [Buffer.from(`{"txt":"${'y'.repeat(200_000)}"}`), 'application/json'], // over the limit
      [Buffer.from([0xc3, 0x28, 0x7b, 0x7d]), 'application/json'],
      [Buffer.from('{"event_id":'.repeat(3_000)), undefined],
      [Buffer.from('a=1&b=2'), 'application/x-www-form-urlencoded'],
    ];
    let seq = 0;
    const flood = async () => {
      for (let round = 0; round < 100; round++) {
        const answers = await Promise.all(
          bodies.map(([body, type]) =>
            gateway.app.inject({
              method: 'POST',
              url: path,
              headers: type ? { 'content-type': type } : {},
              payload: body,
            }),
          ),
        );
        for (const answer of answers) expect(answer.statusCode).toBeLessThan(500);
        // And a valid callback now and then: stored ones must not pile up in memory either.
        const stored = await gateway.app.inject({
          method: 'POST',
          url: path,
          headers: { 'content-type': 'application/json' },
          payload: JSON.stringify({ event_id: `flood-${seq++}`, event_type: 'parse.running' }),
        });
        expect(stored.statusCode).toBe(202);
      }
    };
    const settledHeap = async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      gc();
      gc();
      const { heapUsed, external } = process.memoryUsage();
      return heapUsed + external;
    };
    await flood();
    const afterFirst = await settledHeap();
    await flood();
    await flood();
    const afterThird = await settledHeap();
    expect(afterThird - afterFirst).toBeLessThan(8 * 1024 * 1024);
  });

  it('404s guessed callback tokens of every shape', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 80 }), async (guess) => {
        const response = await gateway.app.inject({
          method: 'POST',
          url: `/v1/callbacks/llamaparse/${encodeURIComponent(guess)}`,
          headers: { 'content-type': 'application/json' },
          payload: '{"event_id":"x","event_type":"parse.success"}',
        });
        expect([404, 400]).toContain(response.statusCode);
      }),
      { numRuns: 200 },
    );
  });

  it('cuts off a sender that trickles its body (slowloris)', async () => {
    const address = await gateway.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = new URL(address);
    const started = Date.now();
    const closed = await new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: Number(port) });
      let answer = '';
      socket.on('data', (chunk) => (answer += chunk.toString()));
      // The gateway drops the connection: a reset is the expected end.
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(answer));
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`,
      );
      const trickle = setInterval(() => socket.writable && socket.write(' '), 100);
      socket.on('close', () => clearInterval(trickle));
      setTimeout(() => socket.destroy(), 5_000);
    });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(closed === '' || closed.startsWith('HTTP/1.1 408')).toBe(true);
  });

  it('slows down token guessing on the API: 429 after 20 failures from one address, never for a valid token', async () => {
    const attempt = (token: string, remoteAddress = '203.0.113.7') =>
      gateway.app.inject({
        method: 'POST',
        url: '/v1/registrations',
        remoteAddress,
        headers: { authorization: `Bearer ${token}` },
        payload: { deliver_to: PIPELINE },
      });
    for (let i = 0; i < 20; i++)
      expect((await attempt(`wrong-token-${i}-0123456789`)).statusCode).toBe(401);
    const blocked = await attempt('wrong-token-20-0123456789');
    expect(blocked.statusCode).toBe(429);
    expect(blocked.json().error).toBe('rate_limited');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect((await attempt(API_TOKEN)).statusCode).toBe(201);
    expect((await attempt('wrong-token-21-0123456789', '203.0.113.8')).statusCode).toBe(401);
    const metrics = await gateway.app.inject({ url: '/metrics' });
    expect(metrics.body).toMatch(/cbgw_auth_failures_total\{process="gateway"\} 22/);
    expect(metrics.body).toMatch(/cbgw_auth_rate_limited_total\{process="gateway"\} 1/);
  });
});
