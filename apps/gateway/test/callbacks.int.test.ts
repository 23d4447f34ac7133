import { createHmac } from 'node:crypto';
import { promtoolCheckMetrics, startRedis, type TestRedis } from '@callback-gateway/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callbackPath, register, startGateway, type TestGateway } from './harness.js';

const JSON_HEADERS = { 'content-type': 'application/json' };
const envelope = (eventId: string, eventType = 'parse.success') => ({
  event_id: eventId,
  event_type: eventType,
  timestamp: 1753985275.1154444,
  data: { id: 'job-1', job_id: 'job-1' },
});
const legacy = {
  txt: 'raw',
  md: '# doc',
  json: [{ page: 1, text: 'raw', md: '# doc', images: [] }],
  images: [],
};

describe('callback intake', () => {
  let redis: TestRedis;
  let gateway: TestGateway;
  beforeAll(async () => {
    redis = await startRedis({ persistent: true });
    gateway = await startGateway({ redis, bodyLimitBytes: 64 * 1024 });
  });
  afterAll(async () => {
    await gateway.close();
    await redis.close();
  });

  const post = (
    path: string,
    payload: string | Buffer,
    headers: Record<string, string> = JSON_HEADERS,
  ) => gateway.app.inject({ method: 'POST', url: path, headers, payload });

  it('accepts the event envelope with 202 once stored and queued', async () => {
    const registration = await register(gateway);
    const response = await post(
      callbackPath(registration.callback_url),
      JSON.stringify(envelope('e-1')),
    );
    expect(response.statusCode).toBe(202);
    const { callback_id: callbackId } = response.json();
    expect(await gateway.stored(callbackId)).toMatchObject({
      registrationId: registration.id,
      eventType: 'parse.success',
      jobId: 'job-1',
      signature: 'absent',
      final: true,
    });
    // Queued: its entry carries the header the worker records `callback.received` from (with
    // this receipt time; the worker's tests check that record).
    const entries = await gateway.redis.xrange(gateway.keys.ingest, '-', '+');
    const entry = entries.find(([, fields]) => fields.includes(callbackId));
    expect(JSON.parse(entry?.[1][5] ?? '{}')).toMatchObject({
      id: callbackId,
      registration_id: registration.id,
      job_id: 'job-1',
      event_type: 'parse.success',
      bytes: Buffer.byteLength(JSON.stringify(envelope('e-1'))),
    });
  });

  it('accepts a body that is a JSON string holding the envelope, and the legacy full result', async () => {
    const registration = await register(gateway);
    const path = callbackPath(registration.callback_url);
    const stringEncoded = await post(path, JSON.stringify(JSON.stringify(envelope('e-str'))));
    expect(stringEncoded.statusCode).toBe(202);
    const stored = await gateway.stored(stringEncoded.json().callback_id);
    expect(stored).toMatchObject({ format: 'event', stringEncoded: true, eventId: 'e-str' });
    expect(JSON.parse(stored?.payloadJson ?? '')).toEqual(envelope('e-str'));
    const other = await register(gateway);
    const full = await post(callbackPath(other.callback_url), JSON.stringify(legacy));
    expect(full.statusCode).toBe(202);
    expect((await gateway.stored(full.json().callback_id))?.format).toBe('legacy');
  });

  it('stores a body with a UTF-8 byte order mark as clean JSON', async () => {
    const registration = await register(gateway);
    const body = Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from(JSON.stringify(envelope('e-bom'))),
    ]);
    const response = await post(callbackPath(registration.callback_url), body);
    expect(response.statusCode).toBe(202);
    const stored = await gateway.stored(response.json().callback_id);
    expect(JSON.parse(stored?.payloadJson ?? '')).toEqual(envelope('e-bom'));
  });

  it('answers duplicates with 200 and stores them once, and takes one final callback per registration', async () => {
    const registration = await register(gateway);
    const path = callbackPath(registration.callback_url);
    const progress = await post(path, JSON.stringify(envelope('e-prog', 'parse.running')));
    expect(progress.statusCode).toBe(202);
    expect((await post(path, JSON.stringify(envelope('e-prog', 'parse.running')))).statusCode).toBe(
      200,
    );
    const first = await post(path, JSON.stringify(envelope('e-dup')));
    expect(first.statusCode).toBe(202);
    const again = await post(path, JSON.stringify({ ...envelope('e-dup'), timestamp: 2 }));
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual({ duplicate: true, callback_id: first.json().callback_id });
    // Another final event (a different event_id) for the same job: still one final delivery.
    const otherFinal = await post(path, JSON.stringify(envelope('e-final-2', 'parse.error')));
    expect(otherFinal.json()).toEqual({ duplicate: true, callback_id: first.json().callback_id });
    // The legacy format dedups on the body.
    const legacyRegistration = await register(gateway);
    const legacyPath = callbackPath(legacyRegistration.callback_url);
    expect((await post(legacyPath, JSON.stringify(legacy))).statusCode).toBe(202);
    expect((await post(legacyPath, JSON.stringify(legacy))).statusCode).toBe(200);
    // The same event for another registration is not a duplicate.
    const other = await register(gateway);
    expect(
      (await post(callbackPath(other.callback_url), JSON.stringify(envelope('e-dup')))).statusCode,
    ).toBe(202);
    const status = await gateway.app.inject({
      url: `/v1/registrations/${registration.id}`,
      headers: { authorization: 'Bearer test-api-token-0123456789' },
    });
    expect(status.json()).toMatchObject({ state: 'received', callbacks_received: 2 });
  });

  it('404s unknown tokens without revealing anything', async () => {
    for (const path of [
      '/v1/callbacks/llamaparse/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      '/v1/callbacks/llamaparse/short',
      '/v1/callbacks/llamaparse/',
    ]) {
      const response = await post(path, JSON.stringify(envelope('x')));
      expect(response.statusCode, path).toBe(404);
      expect(response.json().error).toBe('not_found');
    }
  });

  it('verifies LC-Signature over the raw body when present, and when the registration requires it', async () => {
    const registration = await register(gateway);
    const path = callbackPath(registration.callback_url);
    const body = JSON.stringify(envelope('e-signed'));
    const sign = (payload: string, secret: string) =>
      `sha256=${createHmac('sha256', secret).update(payload).digest('hex')}`;
    const good = await post(path, body, {
      ...JSON_HEADERS,
      'lc-signature': sign(body, registration.signing_secret),
    });
    expect(good.statusCode).toBe(202);
    expect((await gateway.stored(good.json().callback_id))?.signature).toBe('verified');
    // A signed callback replayed as it was (same bytes, same signature): answered, not stored again.
    const replayed = await post(path, body, {
      ...JSON_HEADERS,
      'lc-signature': sign(body, registration.signing_secret),
    });
    expect(replayed.statusCode).toBe(200);
    expect(replayed.json()).toEqual({ duplicate: true, callback_id: good.json().callback_id });
    const tampered = await post(path, body.replace('e-signed', 'e-other'), {
      ...JSON_HEADERS,
      'lc-signature': sign(body, registration.signing_secret),
    });
    expect(tampered.statusCode).toBe(401);
    expect(tampered.json().error).toBe('bad_signature');
    const wrongKey = await post(path, body, {
      ...JSON_HEADERS,
      'lc-signature': sign(body, 'another-secret'),
    });
    expect(wrongKey.statusCode).toBe(401);
    expect(
      (await post(path, body, { ...JSON_HEADERS, 'lc-signature': 'garbage' })).statusCode,
    ).toBe(401);

    const strict = await register(gateway, { require_signature: true });
    const unsigned = await post(callbackPath(strict.callback_url), body);
    expect(unsigned.statusCode).toBe(401);
    expect(unsigned.json().message).toContain('requires an LC-Signature');
    const rejected = gateway.audit.filter((event) => event.type === 'callback.rejected');
    expect(rejected.length).toBeGreaterThanOrEqual(4);
  });

  it('takes a string-format callback signed over its raw body or over the envelope it holds', async () => {
    const registration = await register(gateway, { require_signature: true });
    const path = callbackPath(registration.callback_url);
    const sign = (payload: string, secret = registration.signing_secret) =>
      `sha256=${createHmac('sha256', secret).update(payload).digest('hex')}`;
    // Not the job's end: one registration takes several of these.
    const inner = (eventId: string) => JSON.stringify(envelope(eventId, 'parse.running'));
    const body = (eventId: string) => JSON.stringify(inner(eventId));

    const overRaw = await post(path, body('e-raw'), {
      ...JSON_HEADERS,
      'lc-signature': sign(body('e-raw')),
    });
    const overInner = await post(path, body('e-inner'), {
      ...JSON_HEADERS,
      'lc-signature': sign(inner('e-inner')),
    });
    const otherSecret = await post(path, body('e-x'), {
      ...JSON_HEADERS,
      'lc-signature': sign(inner('e-x'), 'another-secret'),
    });
    const otherEnvelope = await post(path, body('e-y'), {
      ...JSON_HEADERS,
      'lc-signature': sign(inner('e-z')),
    });

    expect([overRaw.statusCode, overInner.statusCode]).toEqual([202, 202]);
    for (const accepted of [overRaw, overInner]) {
      expect(await gateway.stored(accepted.json().callback_id)).toMatchObject({
        signature: 'verified',
        stringEncoded: true,
      });
    }
    expect([otherSecret.statusCode, otherEnvelope.statusCode]).toEqual([401, 401]);
    expect(otherEnvelope.json().error).toBe('bad_signature');
  });

  it('takes a callback with no Content-Type, or an empty one, as JSON', async () => {
    const registration = await register(gateway);
    const path = callbackPath(registration.callback_url);
    const body = (eventId: string) => JSON.stringify(envelope(eventId, 'parse.running'));

    const missing = await post(path, body('e-no-type'), {});
    const empty = await post(path, body('e-empty-type'), { 'content-type': '' });
    const blank = await post(path, body('e-blank-type'), { 'content-type': '  ' });
    // The token is still looked up first: an unknown one is 404 whatever the type.
    const unknown = await post(`${path.slice(0, -5)}xxxxx`, body('e-unknown'), {
      'content-type': '',
    });

    expect([missing, empty, blank].map((response) => response.statusCode)).toEqual([202, 202, 202]);
    for (const response of [missing, empty, blank]) {
      expect(await gateway.stored(response.json().callback_id)).toMatchObject({
        format: 'event',
        contentType: 'application/json',
      });
    }
    expect(unknown.statusCode).toBe(404);
  });

  it('refuses bodies it cannot store: 413 over the limit, 415 not JSON, 400 malformed', async () => {
    const registration = await register(gateway);
    const path = callbackPath(registration.callback_url);
    const huge = await post(path, JSON.stringify({ md: 'x'.repeat(70 * 1024) }));
    expect(huge.statusCode).toBe(413);
    expect(huge.json().error).toBe('payload_too_large');
    const text = await post(path, 'hello', { 'content-type': 'text/plain' });
    expect(text.statusCode).toBe(415);
    expect(text.json().error).toBe('unsupported_media_type');
    const form = await post(path, 'a=1', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(form.statusCode).toBe(415);
    for (const bad of ['{"md":', '[1,2,3]', '', '"plain string"']) {
      const response = await post(path, bad);
      expect(response.statusCode, bad).toBe(400);
      expect(response.json().error).toBe('malformed_callback');
    }
    const status = await gateway.app.inject({
      url: `/v1/registrations/${registration.id}`,
      headers: { authorization: 'Bearer test-api-token-0123456789' },
    });
    expect(status.json().callbacks_received).toBe(0);
  });

  it('answers 503 with Retry-After while Redis is away, never a 2xx, and recovers by itself', async () => {
    const registration = await register(gateway);
    const path = callbackPath(registration.callback_url);
    await redis.stop();
    const during = await post(path, JSON.stringify(envelope('e-outage')));
    expect(during.statusCode).toBe(503);
    expect(during.json().error).toBe('storage_unavailable');
    expect(during.headers['retry-after']).toBe('5');
    const registering = await gateway.app.inject({
      method: 'POST',
      url: '/v1/registrations',
      headers: { authorization: 'Bearer test-api-token-0123456789' },
      payload: { deliver_to: 'https://pipeline.example.com/x' },
    });
    expect(registering.statusCode).toBe(503);
    await redis.start();
    const deadline = Date.now() + 10_000;
    let after = await post(path, JSON.stringify(envelope('e-outage')));
    while (after.statusCode === 503 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = await post(path, JSON.stringify(envelope('e-outage')));
    }
    expect(after.statusCode).toBe(202);
  });

  it('has stored and queued every callback it acknowledged, across a Redis crash under load', async () => {
    const registration = await register(gateway);
    const path = callbackPath(registration.callback_url);
    const responses: Awaited<ReturnType<typeof post>>[] = [];
    let sent = 0;
    let running = true;
    // Eight senders in a loop for about two seconds; Redis is killed (SIGKILL) in the middle
    // and started again.
    const senders = Array.from({ length: 8 }, async () => {
      while (running) {
        responses.push(
          await post(path, JSON.stringify(envelope(`load-${sent++}`, 'parse.running'))),
        );
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    await redis.kill();
    await new Promise((resolve) => setTimeout(resolve, 400));
    await redis.start();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    running = false;
    await Promise.all(senders);

    const acknowledged = responses.filter((response) => response.statusCode === 202);
    const refused = responses.filter((response) => response.statusCode === 503);
    expect(acknowledged.length).toBeGreaterThan(50);
    expect(refused.length).toBeGreaterThan(0);
    expect(acknowledged.length + refused.length).toBe(responses.length);
    const entries = await gateway.redis.xrange(gateway.keys.ingest, '-', '+');
    const queued = new Set(entries.map(([, fields]) => fields[1]));
    for (const response of acknowledged) {
      const id = response.json().callback_id as string;
      expect(queued.has(id), id).toBe(true);
      expect(await gateway.redis.exists(gateway.keys.callback(id))).toBe(1);
    }
  });

  it('exposes metrics that promtool accepts', async () => {
    const response = await gateway.app.inject({ url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain(
      'cbgw_callbacks_total{format="event",event_type="parse.success",outcome="stored"',
    );
    expect(response.body).toContain('cbgw_callback_rejections_total{reason="bad_signature"');
    expect(response.body).toContain('cbgw_callback_ack_duration_seconds_bucket');
    expect(promtoolCheckMetrics(response.body)).toBe('');
  });
});
