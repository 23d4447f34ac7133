import { Writable } from 'node:stream';
import { createLogger } from '@callback-gateway/audit';
import { memoryAuditLog } from '@callback-gateway/audit/testing';
import { createLlamaCloudClient } from '@callback-gateway/llamacloud';
import { startLlamaCloudFake, type LlamaCloudFake } from '@callback-gateway/llamacloud/testing';
import { createRegistrationStore, issueRegistration, storeKeys } from '@callback-gateway/store';
import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startReconciler, type Reconciler } from '../src/reconcile/service.js';

describe('early reconciliation after a public URL change', () => {
  let redis: TestRedis | undefined;
  let client: Redis | undefined;
  let parser: LlamaCloudFake | undefined;
  let reconciler: Reconciler | undefined;
  afterEach(async () => {
    await reconciler?.close();
    client?.disconnect();
    await parser?.close();
    await redis?.close();
  });

  it('asks the parser at the next sweep about registrations issued under the old URL, and only those', async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
    // The parser finished both jobs; their callbacks went to URLs that no longer answer.
    parser = await startLlamaCloudFake({ dropCallbacks: () => true });
    const llamaCloud = createLlamaCloudClient({ baseUrl: parser.baseUrl, apiKey: parser.apiKey });
    const keys = storeKeys();
    const store = createRegistrationStore({ redis: client, keys });
    const issue = async (baseUrl: string) => {
      const job = await llamaCloud.parseV2({
        tier: 'cost_effective',
        version: 'latest',
        source_url: 'https://docs.example.com/a.pdf',
        webhook_configurations: [
          { webhook_url: `${baseUrl}/v1/callbacks/llamaparse/x`, webhook_output_format: 'json' },
        ],
      });
      parser?.complete(job.id);
      const { registration } = await issueRegistration(
        store,
        {
          source: 'llamaparse',
          deliverTo: 'https://pipeline.example.com/in',
          parseJobId: job.id,
          expectCallbackWithinSeconds: 3_600,
          requireSignature: false,
          apiClient: 'test',
        },
        { baseUrl, source: 'ngrok' },
        { registrationTtlSeconds: 86_400, now: new Date() },
      );
      return registration.id;
    };
    const underOld = await issue('https://old-session.ngrok-free.app');
    // A gateway takes callbacks all along: no silence to trigger anything.
    await client.zadd(keys.gateways, Date.now(), 'gateway-1');

    const audit = memoryAuditLog();
    let current = 'https://old-session.ngrok-free.app';
    reconciler = startReconciler({
      redis: client,
      keys,
      llamaCloud,
      currentBaseUrl: async () => current,
      audit,
      logger: createLogger({ name: 'test', level: 'silent', destination: new Writable() }),
      registry: new Registry(),
      // Sweeps are the test's own.
      intervalMs: 600_000,
    });
    await reconciler.sweep();
    expect(audit.ofType('callback.reconciled')).toHaveLength(0);

    // Seconds later, not 30: the URL changed, and a job was issued under the new one.
    current = 'https://new-session.ngrok-free.app';
    const underNew = await issue(current);
    await reconciler.sweep();
    const reconciled = audit.ofType('callback.reconciled');
    expect(reconciled.map((event) => event.correlation.registration_id)).toEqual([underOld]);
    expect(await client.exists(keys.final(underOld))).toBe(1);
    expect(await client.exists(keys.final(underNew))).toBe(0);
  });
});
