import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeliveryBatches } from './delivery-batches.js';
import { createDeliveryStore } from './deliveries.js';
import { NotReplicatedError, createIntake, type IncomingCallback } from './intake.js';
import { storeKeys } from './keys.js';
import { createSubmissionStore } from './submissions.js';
import {
  CALLBACK_TOKEN_LENGTH,
  createRegistrationStore,
  hashToken,
  newCallbackToken,
  type NewRegistration,
} from './registrations.js';

const hour = 3_600_000;

function newRegistration(): NewRegistration {
  const now = Date.now();
  return {
    source: 'llamaparse',
    deliverTo: 'https://pipeline.example.com/hooks',
    parseJobId: undefined,
    metadata: { doc: 'a.pdf' },
    signingSecret: 'signing-secret-0123456789',
    deliverySecret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    requireSignature: false,
    callbackBaseUrl: 'https://hooks.example.com',
    callbackUrlSource: 'cloud_config',
    apiClient: 'token-1',
    createdAt: new Date(now).toISOString(),
    expiresAt: new Date(now + 24 * hour).toISOString(),
    expectCallbackBy: new Date(now + hour).toISOString(),
  };
}

function callback(
  registrationId: string,
  overrides: Partial<IncomingCallback> = {},
): IncomingCallback {
  return {
    registrationId,
    format: 'event',
    payloadJson: '{"event_id":"e1","event_type":"parse.success"}',
    contentType: 'application/json',
    receivedAt: new Date().toISOString(),
    dedupKey: 'event:e1',
    eventType: 'parse.success',
    eventId: 'e1',
    stringEncoded: false,
    signature: 'absent',
    final: false,
    ...overrides,
  };
}

describe('store', () => {
  let server: TestRedis;
  let redis: Redis;
  const keys = storeKeys('t');
  beforeAll(async () => {
    server = await startRedis({ persistent: true });
    redis = new Redis(server.url, {
      enableAutoPipelining: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
    });
    await new Promise((resolve) => redis.once('ready', resolve));
  });
  afterAll(async () => {
    redis.disconnect();
    await server.close();
  });

  it('stores a registration, keeps only the hash of its token, and finds it by token', async () => {
    const store = createRegistrationStore({ redis, keys });
    const token = newCallbackToken();
    expect(token).toHaveLength(CALLBACK_TOKEN_LENGTH);
    const created = await store.create(newRegistration(), token);
    expect(created.state).toBe('waiting');
    expect(await store.findByToken(token)).toEqual(created);
    expect(await store.findByToken(newCallbackToken())).toBeUndefined();
    expect(await store.findByToken('short')).toBeUndefined();
    const dump = JSON.stringify(await redis.keys('*'));
    expect(dump).not.toContain(token);
    expect(dump).toContain(hashToken(token));
    expect(await redis.ttl(keys.token(hashToken(token)))).toBeGreaterThan(23 * 3600);
    expect(await redis.zscore(keys.waiting, created.id)).toBe(
      String(Date.parse(created.expectCallbackBy)),
    );
    expect((await store.attachParseJob(created.id, 'job-1'))?.parseJobId).toBe('job-1');
    expect(await store.attachParseJob('reg_00000000000000000000000000000000', 'x')).toBeUndefined();
  });

  it("keeps the parse job's API with its id, when said, at creation or when attached", async () => {
    const store = createRegistrationStore({ redis, keys });
    const unsaid = await store.create(newRegistration(), newCallbackToken());
    const atCreation = await store.create(
      { ...newRegistration(), parseJobId: 'job-v1', parseApi: 'v1' },
      newCallbackToken(),
    );

    expect(unsaid.parseApi).toBeUndefined();
    expect(await store.get(atCreation.id)).toMatchObject({ parseJobId: 'job-v1', parseApi: 'v1' });
    expect(await store.attachParseJob(unsaid.id, 'job-v2', 'v2')).toMatchObject({
      parseJobId: 'job-v2',
      parseApi: 'v2',
    });
    // Attached again without one, the API said before stays.
    expect((await store.attachParseJob(atCreation.id, 'job-x'))?.parseApi).toBe('v1');
  });

  it('keeps the tier and version a submission asked for, then those it was submitted with', async () => {
    const submissions = createSubmissionStore({ redis, keys });
    const asked = await submissions.create({
      deliverTo: 'https://pipeline.example.com/hooks',
      sourceUrl: 'https://docs.example.com/a.pdf',
      api: 'v2',
      tier: 'agentic',
      version: undefined,
      metadata: undefined,
      expectCallbackWithinSeconds: undefined,
      apiClient: 'token-1',
    });
    expect(await submissions.get(asked.id)).toMatchObject({ tier: 'agentic', version: undefined });

    await submissions.update(asked.id, { state: 'submitted', tier: 'agentic', version: 'latest' });

    expect(await submissions.get(asked.id)).toMatchObject({
      state: 'submitted',
      tier: 'agentic',
      version: 'latest',
    });
  });

  it('fails a batch with NotReplicatedError when the replicas it waits for are not there', async () => {
    const store = createRegistrationStore({ redis, keys });
    // This Redis has no replica: WAIT 1 times out.
    const intake = createIntake({ redis, keys, ackReplicas: 1, ackReplicasTimeoutMs: 50 });
    const registration = await store.create(newRegistration(), newCallbackToken());
    const refused = intake.store(callback(registration.id));
    await expect(refused).rejects.toBeInstanceOf(NotReplicatedError);
    await expect(refused).rejects.toMatchObject({ wanted: 1, reached: 0 });
    // Kept on the primary: the parser's retry is a duplicate.
    const retry = await createIntake({ redis, keys }).store(callback(registration.id));
    expect(retry.outcome).toBe('duplicate');
    // Waiting for no replica answers as before.
    const none = createIntake({ redis, keys, ackReplicas: 0 });
    expect(
      (await none.store(callback(registration.id, { dedupKey: 'event:r2', eventId: 'r2' })))
        .outcome,
    ).toBe('stored');
  });

  it('stores a callback once, appends it to the ingest stream, and answers duplicates', async () => {
    const store = createRegistrationStore({ redis, keys });
    const intake = createIntake({ redis, keys });
    const registration = await store.create(newRegistration(), newCallbackToken());
    const first = await intake.store(callback(registration.id));
    expect(first.outcome).toBe('stored');
    const again = await intake.store(callback(registration.id));
    expect(again).toEqual({
      outcome: 'duplicate',
      callbackId: first.outcome === 'stored' ? first.callbackId : '',
    });
    const other = await intake.store(
      callback(registration.id, { dedupKey: 'event:e2', eventId: 'e2' }),
    );
    expect(other.outcome).toBe('stored');

    const entries = await redis.xrange(keys.ingest, '-', '+');
    const mine = entries.filter(([, fields]) => fields[3] === registration.id);
    expect(mine).toHaveLength(2);
    if (first.outcome !== 'stored') throw new Error('unreachable');
    // The entry carries the record's header: the worker needs nothing else to queue it.
    const [, fields] = mine[0] ?? ['', []];
    expect(fields.slice(0, 4)).toEqual(['cb', first.callbackId, 'reg', registration.id]);
    expect(JSON.parse(fields[5] ?? '')).toMatchObject({
      id: first.callbackId,
      registration_id: registration.id,
      event_id: 'e1',
      format: 'event',
    });
    const updated = await store.get(registration.id);
    expect(updated?.state).toBe('received');
    expect(updated?.callbacksReceived).toBe(2);
    const stored = await createDeliveryStore({ redis, keys }).get(first.callbackId);
    expect(stored).toMatchObject({
      state: 'queued',
      eventId: 'e1',
      registrationId: registration.id,
    });
    expect(stored?.payloadJson).toBe('{"event_id":"e1","event_type":"parse.success"}');
  });

  it('stores the request bytes it is given exactly as they came, UTF-8 included', async () => {
    const store = createRegistrationStore({ redis, keys });
    const intake = createIntake({ redis, keys });
    const deliveries = createDeliveryStore({ redis, keys });
    const registration = await store.create(newRegistration(), newCallbackToken());
    const text = '{"event_id":"ü-1","data":{"text":"Grüße, 東京 \\n 🚀"}}';
    const fromBytes = await intake.store(
      callback(registration.id, {
        payloadJson: Buffer.from(text),
        dedupKey: 'event:ü-1',
        eventId: 'ü-1',
      }),
    );
    const fromText = await intake.store(
      callback(registration.id, { payloadJson: text, dedupKey: 'event:ü-2', eventId: 'ü-2' }),
    );
    if (fromBytes.outcome !== 'stored' || fromText.outcome !== 'stored')
      throw new Error('not stored');
    expect((await deliveries.get(fromBytes.callbackId))?.payloadJson).toBe(text);
    expect((await deliveries.get(fromText.callbackId))?.payloadJson).toBe(text);
    expect((await deliveries.get(fromBytes.callbackId))?.eventId).toBe('ü-1');
  });

  it('takes one final callback per registration: a reconciled one and a late real one make one', async () => {
    const store = createRegistrationStore({ redis, keys });
    const intake = createIntake({ redis, keys });
    const registration = await store.create(newRegistration(), newCallbackToken());
    expect(await redis.zscore(keys.waiting, registration.id)).not.toBeNull();
    const progress = await intake.store(
      callback(registration.id, { dedupKey: 'event:p', eventId: 'p', eventType: 'parse.running' }),
    );
    expect(progress.outcome).toBe('stored');
    const reconciled = await intake.store(
      callback(registration.id, { dedupKey: 'reconciled:job-1', final: true, reconciled: true }),
    );
    expect(reconciled.outcome).toBe('stored');
    expect(await redis.zscore(keys.waiting, registration.id)).toBeNull();
    const late = await intake.store(
      callback(registration.id, { dedupKey: 'event:real', eventId: 'real', final: true }),
    );
    expect(late).toEqual({
      outcome: 'duplicate',
      callbackId: reconciled.outcome === 'stored' ? reconciled.callbackId : '',
    });
    if (reconciled.outcome !== 'stored') throw new Error('unreachable');
    const stored = await createDeliveryStore({ redis, keys }).get(reconciled.callbackId);
    expect(stored?.reconciled).toBe(true);
    // The real one's retries point at the registration's final callback too.
    expect(
      await intake.store(
        callback(registration.id, { dedupKey: 'event:real', eventId: 'real', final: true }),
      ),
    ).toEqual({ outcome: 'duplicate', callbackId: reconciled.callbackId });
  });

  it('keeps the per-state delivery indexes in step with each transition', async () => {
    const store = createRegistrationStore({ redis, keys });
    const intake = createIntake({ redis, keys });
    const deliveries = createDeliveryStore({ redis, keys });
    const batches = createDeliveryBatches({ redis, keys });
    const registration = await store.create(newRegistration(), newCallbackToken());
    const stored = await intake.store(
      callback(registration.id, { dedupKey: 'event:idx', eventId: 'idx' }),
    );
    if (stored.outcome !== 'stored') throw new Error('not stored');
    const member = (state: string) => redis.zscore(keys.deliveryState(state), stored.callbackId);
    // Indexed once the worker's pump picked it up.
    expect(await member('queued')).toBeNull();
    expect(
      await batches.materialize(
        [
          {
            entryId: stored.entryId,
            callbackId: stored.callbackId,
            registrationId: registration.id,
            replay: 0,
            header: {
              id: stored.callbackId,
              registration_id: registration.id,
              format: 'event',
              content_type: 'application/json',
              received_at: new Date().toISOString(),
              bytes: 10,
              dedup_key: 'event:idx',
              signature: 'absent',
              event_id: 'idx',
            },
          },
        ],
        'b-1',
      ),
    ).toEqual([{ outcome: 'owned', jobId: 'b-1', isNew: true }]);
    expect(await member('queued')).not.toBeNull();
    await deliveries.transition(
      { id: stored.callbackId, registrationId: registration.id },
      'dead_lettered',
      {
        last_error: 'x',
      },
    );
    expect(await member('queued')).toBeNull();
    expect(await member('dead_lettered')).not.toBeNull();
    expect((await store.get(registration.id))?.state).toBe('dead_lettered');
  });

  it('holds callbacks for lingerMs, and writes them at once when 16 are waiting', async () => {
    const store = createRegistrationStore({ redis, keys });
    const intake = createIntake({ redis, keys, lingerMs: 60_000 });
    const registration = await store.create(newRegistration(), newCallbackToken());
    const store1 = (i: number) =>
      intake.store(callback(registration.id, { dedupKey: `event:l${i}`, eventId: `l${i}` }));
    let answered = 0;
    const fifteen = Array.from({ length: 15 }, (_, i) =>
      store1(i).then((result) => {
        answered++;
        return result;
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(answered).toBe(0);
    const results = await Promise.all([...fifteen, store1(15)]);
    expect(results.map((result) => result.outcome)).toEqual(Array(16).fill('stored'));
  });

  it('refuses a callback for a registration that is gone', async () => {
    const intake = createIntake({ redis, keys });
    expect(await intake.store(callback('reg_ffffffffffffffffffffffffffffffff'))).toEqual({
      outcome: 'registration_gone',
    });
  });

  it('gives each of many concurrent callbacks exactly one stored entry', async () => {
    const store = createRegistrationStore({ redis, keys });
    const intake = createIntake({ redis, keys });
    const registration = await store.create(newRegistration(), newCallbackToken());
    const results = await Promise.all(
      Array.from({ length: 400 }, (_, i) =>
        intake.store(
          callback(registration.id, { dedupKey: `event:${i % 200}`, eventId: String(i % 200) }),
        ),
      ),
    );
    expect(results.filter((result) => result.outcome === 'stored')).toHaveLength(200);
    expect(results.filter((result) => result.outcome === 'duplicate')).toHaveLength(200);
    expect((await store.get(registration.id))?.callbacksReceived).toBe(200);
  });

  it('keeps what it acknowledged across a Redis crash (AOF fsync always)', async () => {
    const store = createRegistrationStore({ redis, keys });
    const intake = createIntake({ redis, keys });
    const registration = await store.create(newRegistration(), newCallbackToken());
    const stored = await intake.store(
      callback(registration.id, { dedupKey: 'event:crash', eventId: 'crash' }),
    );
    await server.kill();
    await server.start();
    const again = new Redis(server.url);
    if (stored.outcome !== 'stored') throw new Error('not stored');
    const record = await createDeliveryStore({ redis: again, keys }).get(stored.callbackId);
    expect(record?.eventId).toBe('crash');
    expect((await again.xrange(keys.ingest, stored.entryId, stored.entryId)).length).toBe(1);
    again.disconnect();
  });
});
