import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createRedisAuditStore, type AuditEvent } from '@callback-gateway/audit';
import { createGatewayClient } from '@callback-gateway/client';
import { loadGatewayConfig, startGateway, type StartedGateway } from '@callback-gateway/gateway';
import { createLlamaCloudClient, PARSE_END_EVENTS } from '@callback-gateway/llamacloud';
import { startLlamaCloudFake, type LlamaCloudFake } from '@callback-gateway/llamacloud/testing';
import {
  freePort,
  startProcess,
  startRedis,
  waitForHttp,
  type TestRedis,
  type WatchedProcess,
} from '@callback-gateway/testing';
import { storeKeys } from '@callback-gateway/store';
import { Redis } from 'ioredis';
import { SecretSet, scanForSecrets, type SecretScan } from './secrets.js';
import { Ledger } from './ledger.js';
import { startNgrokCloud, type NgrokCloud } from './ngrok-cloud.js';
import { startNotificationReceiver, type NotificationReceiver } from './notifications.js';
import { startPipeline, type ChaosPipeline } from './pipeline.js';
import { API_TOKEN, CHAOS_DEFAULTS, until } from './stack.js';

// The repository root, three levels up from src/ (tests) and dist/ (npm run chaos) alike.
const root = fileURLToPath(new URL('../../..', import.meta.url));

/** One registration issued to the pipeline, and the parser job that owes its final callback. */
export interface IssuedJob {
  registrationId: string;
  jobId: string;
  callbackUrl: string;
}

/** What `POST /v1/registrations` answered. */
export interface RegistrationAttempt {
  status: number;
  /** `callback_url` of a 201. */
  callbackUrl?: string;
  /** `error` of a refusal (`webhook_url_unavailable`, ...). */
  error?: string;
  /** `source:code` of each source's refusal. */
  reasons: string[];
}

/**
 * The gateway started in-process with ngrok's cloud faked (see {@link NgrokCloud}), the built
 * worker as a process, LlamaCloud faked (jobs, callbacks through the tunnel URL, job APIs), a
 * pipeline verifying every delivery, and an on-call webhook receiver.
 */
export interface TunnelWorld {
  redis: TestRedis;
  cloud: NgrokCloud;
  parser: LlamaCloudFake;
  receiver: NotificationReceiver;
  pipeline: ChaosPipeline;
  ledger: Ledger;
  gateway: StartedGateway;
  worker: WatchedProcess;
  workerUrl: string;
  /** Every line of the gateway's log (kept in memory). */
  gatewayLines: string[];
  /** Every job issued, in order. */
  issued: IssuedJob[];
  /** Every callback URL the gateway handed out (201s), in order. */
  callbackUrls: string[];
  /**
   * What a pipeline does: registers, submits the document to the parser with the callback URL
   * and its signing secret (v2), and attaches the parser's job id to the registration.
   */
  issue(): Promise<IssuedJob>;
  /** One registration request, answered as it came. */
  tryRegister(): Promise<RegistrationAttempt>;
  /** Audit events of these types from the Redis stream, oldest first. */
  audit(types: AuditEvent['type'][]): Promise<AuditEvent[]>;
  /** Status of a gateway endpoint (`/readyz`, ...). */
  gatewayStatus(path: string): Promise<number>;
  /** Every secret configured or handed out in this world. */
  secrets: SecretSet;
  /** Scans the gateway's and the worker's output, the audit trail and every notification for
   * those secrets. */
  scanSecrets(): Promise<SecretScan>;
  close(): Promise<void>;
}

/** Opens the world with the tunnel up under `firstUrl`; resolves once both processes are ready. */
export async function openTunnelWorld(firstUrl: string): Promise<TunnelWorld> {
  const closers: (() => Promise<unknown>)[] = [];
  const closeAll = async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
  };
  try {
    const ledger = new Ledger();
    const secrets = new Map<string, string>();
    const redis = await startRedis({ persistent: true });
    closers.push(() => redis.close());
    const cloud = await startNgrokCloud(firstUrl);
    closers.push(() => cloud.close());
    // The parser calls back through ngrok: a URL whose session is gone gets ngrok's 404.
    const parser = await startLlamaCloudFake({
      rewriteCallbackUrl: (url) => cloud.route(url),
      retryDelaysMs: [250, 500],
      maxAttempts: 3,
      timeoutMs: 5_000,
    });
    closers.push(() => parser.close());
    const receiver = await startNotificationReceiver();
    closers.push(() => receiver.close());
    const pipeline = await startPipeline(ledger, (path) => secrets.get(path));
    closers.push(() => pipeline.close());

    // One environment for both processes, as `npm start` has it. No PUBLIC_BASE_URL: the tunnel
    // is the only source, and the gateway verifies each tunnel URL by a probe through it.
    const { PUBLIC_BASE_URL: _url, WEBHOOK_URL_VERIFY: _verify, ...defaults } = CHAOS_DEFAULTS;
    const env: Record<string, string> = {
      ...defaults,
      REDIS_URL: redis.url,
      NGROK_AUTHTOKEN: 'chaos-fake-ngrok-authtoken-0123456789',
      // Every 5 s a probe through the tunnel URL; a session lost longer than two checks is
      // reconnected by the gateway itself.
      NGROK_HEALTH_INTERVAL_MS: '5000',
      LLAMA_CLOUD_BASE_URL: parser.baseUrl,
      LLAMA_CLOUD_API_KEY: parser.apiKey,
      // Far deadlines: a recovery here is the early one, never the overdue sweep's.
      GATEWAY_EXPECT_CALLBACK_WITHIN_S: '3600',
      RECONCILE_INTERVAL_MS: '500',
      RECONCILE_FIRST_POLL_DELAY_MS: '1000',
      RECONCILE_MAX_POLL_DELAY_MS: '5000',
      NOTIFY_WEBHOOK_URLS: receiver.url,
      NOTIFY_WEBHOOK_SECRET: receiver.secret,
    };
    const gatewayLines: string[] = [];
    const gateway = await startGateway(loadGatewayConfig({ ...env, GATEWAY_PORT: '0' }), {
      webhookUrl: cloud.deps,
      logDestination: new Writable({
        write(chunk, _encoding, done) {
          gatewayLines.push(String(chunk));
          done();
        },
      }),
    });
    closers.push(() => gateway.close());
    cloud.gatewayPort = gateway.port;
    const workerPort = await freePort();
    const worker = startProcess({
      args: [`${root}apps/worker/dist/main.js`],
      env: { ...env, WORKER_PORT: String(workerPort) },
    });
    closers.push(() => worker.stop());
    const workerUrl = `http://127.0.0.1:${workerPort}`;
    const auditRedis = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    closers.push(async () => auditRedis.disconnect());
    const auditStore = createRedisAuditStore({ redis: auditRedis });
    try {
      await waitForHttp(`${gateway.url}/readyz`, (status) => status === 200, 30_000);
      await waitForHttp(`${workerUrl}/readyz`, (status) => status === 200, 30_000);
      // The gateway's first heartbeat is lost when it beats before its Redis connection is up,
      // and a worker that saw no gateway yet reconciles everything pending as soon as one
      // appears. Let that start-up "outage" end first: a recovery later in the scenario must
      // come from the URL change alone.
      await until(
        async () =>
          (await auditRedis.zcard(storeKeys().gateways)) > 0 &&
          (await auditRedis.exists(`{${storeKeys().prefix}}:gateway-outage-since`)) === 0,
        30_000,
        'the worker sees the gateway heartbeat',
      );
    } catch (error) {
      const output = [...gatewayLines.slice(-10), ...worker.lines.slice(-10)].join('\n');
      throw new Error(`${String(error)}; output:\n${output}`, { cause: error });
    }

    const client = createGatewayClient({ baseUrl: gateway.url, token: API_TOKEN });
    const llamaCloud = createLlamaCloudClient({ baseUrl: parser.baseUrl, apiKey: parser.apiKey });
    let pathSeq = 0;
    const world: TunnelWorld = {
      redis,
      cloud,
      parser,
      receiver,
      pipeline,
      ledger,
      gateway,
      worker,
      workerUrl,
      gatewayLines,
      issued: [],
      callbackUrls: [],
      async issue() {
        const path = `/docs/${pathSeq++}`;
        const registration = await client.register({
          deliverTo: pipeline.url(path),
          requireSignature: true,
        });
        world.callbackUrls.push(registration.callbackUrl);
        secrets.set(path, registration.deliverySecret);
        world.secrets.addRegistration({ ...registration, callback: registration.callbackUrl });
        const job = await llamaCloud.parseV2({
          tier: 'cost_effective',
          version: 'latest',
          source_url: `https://docs.example.com${path}.pdf`,
          webhook_configurations: [
            {
              webhook_url: registration.callbackUrl,
              webhook_signing_secret: registration.signingSecret,
              webhook_output_format: 'json',
              webhook_events: [...PARSE_END_EVENTS],
            },
          ],
        });
        await client.attachJob(registration.id, job.id);
        const issued = {
          registrationId: registration.id,
          jobId: job.id,
          callbackUrl: registration.callbackUrl,
        };
        world.issued.push(issued);
        return issued;
      },
      async tryRegister() {
        const response = await fetch(`${gateway.url}/v1/registrations`, {
          method: 'POST',
          headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ deliver_to: pipeline.url('/refused') }),
          signal: AbortSignal.timeout(30_000),
        });
        const body = (await response.json()) as {
          callback_url?: string;
          error?: string;
          reasons?: { source: string; code: string }[];
        };
        if (body.callback_url) world.callbackUrls.push(body.callback_url);
        return {
          status: response.status,
          ...(body.callback_url !== undefined && { callbackUrl: body.callback_url }),
          ...(body.error !== undefined && { error: body.error }),
          reasons: (body.reasons ?? []).map((reason) => `${reason.source}:${reason.code}`),
        };
      },
      audit: (types) => auditStore.query({ types, limit: 1_000 }),
      async gatewayStatus(path) {
        return (await fetch(`${gateway.url}${path}`, { signal: AbortSignal.timeout(5_000) }))
          .status;
      },
      secrets: new SecretSet(),
      scanSecrets: () =>
        scanForSecrets(
          world.secrets,
          [
            ...gatewayLines,
            ...worker.lines,
            ...receiver.received.map((notification) => JSON.stringify(notification)),
          ],
          redis.url,
        ),
      close: closeAll,
    };
    for (const [label, value] of [
      ['API token', API_TOKEN],
      ['ngrok authtoken', env['NGROK_AUTHTOKEN']],
      ['LlamaCloud API key', env['LLAMA_CLOUD_API_KEY']],
      ['notification secret', env['NOTIFY_WEBHOOK_SECRET']],
    ] as const) {
      world.secrets.add(label, value);
    }
    return world;
  } catch (error) {
    await closeAll();
    throw error;
  }
}
