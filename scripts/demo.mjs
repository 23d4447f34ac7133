#!/usr/bin/env node
// `npm run demo`: the whole product on loopback, for a newcomer to watch.
// Gateway, worker, a local fake of LlamaCloud and a sample pipeline; four documents go end to
// end: one plain, one whose callback the parser drops (recovered by reconciliation), one whose
// callback arrives twice (delivered once), one the pipeline fails at first (retried).
// It prints each step and the final tally, then leaves everything running for you to look at
// (Ctrl-C stops it). DEMO_EXIT=1 exits after the tally (what the test does).
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { verifyDelivery } from '@callback-gateway/client';
import { startLlamaCloudFake } from '@callback-gateway/llamacloud/testing';
import { freePort, startRedis } from '@callback-gateway/testing';

const root = new URL('..', import.meta.url).pathname;
const TOKEN = 'demo-api-token-0123456789';
const started = Date.now();
const say = (line) =>
  console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s] ${line}`);
const children = [];
const cleanups = [];

async function stopAll(code) {
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(
    children.map((child) =>
      child.exitCode === null ? new Promise((r) => child.once('exit', r)) : undefined,
    ),
  );
  for (const cleanup of cleanups.reverse()) await cleanup();
  process.exit(code);
}
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

async function waitFor(check, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(100);
  }
}

try {
  say('1. starting Redis (a throwaway redis-server on a free port)');
  const redis = await startRedis({ persistent: true });
  cleanups.push(() => redis.close());

  say('2. starting the sample pipeline (it verifies every delivery with the client library)');
  const secrets = new Map();
  const received = [];
  let failedOnce = false;
  const pipeline = createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      const doc = request.url.slice(1);
      if (doc === 'doc-4' && !failedOnce) {
        failedOnce = true;
        say(
          `   pipeline: ${doc} arrived, but the pipeline answers 500 this time (it will be retried)`,
        );
        response.writeHead(500).end();
        return;
      }
      try {
        const delivery = verifyDelivery(
          request.headers,
          Buffer.concat(chunks),
          secrets.get(doc) ?? '',
        );
        const first = !received.some((entry) => entry.webhookId === delivery.webhookId);
        received.push({ doc, webhookId: delivery.webhookId, reconciled: delivery.reconciled });
        say(
          `   pipeline: ${doc} delivered, signature verified (${delivery.type}${delivery.reconciled ? ', reconciled' : ''}${first ? '' : ', a repeat: same webhook-id'})`,
        );
        response.writeHead(200).end();
      } catch (error) {
        say(`   pipeline: ${doc} refused: ${error.message}`);
        response.writeHead(400).end();
      }
    });
  });
  const pipelinePort = await freePort();
  await new Promise((resolve) => pipeline.listen(pipelinePort, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise((resolve) => {
        pipeline.closeAllConnections();
        pipeline.close(resolve);
      }),
  );

  say(
    '3. starting the local LlamaCloud fake (it parses nothing, but speaks the API and calls back)',
  );
  const dropped = new Set();
  const duplicated = new Set();
  const gatewayPort = await freePort();
  const fake = await startLlamaCloudFake({
    rewriteCallbackUrl: (url) => `http://127.0.0.1:${gatewayPort}${new URL(url).pathname}`,
    dropCallbacks: (jobId) => dropped.has(jobId),
    duplicateCallbacks: (jobId) => duplicated.has(jobId),
    retryDelaysMs: [200, 400],
  });
  cleanups.push(() => fake.close());

  say('4. starting the gateway and the worker');
  const workerPort = await freePort();
  const env = {
    PATH: process.env.PATH ?? '',
    REDIS_URL: redis.url,
    LOG_LEVEL: 'warn',
    GATEWAY_PORT: String(gatewayPort),
    WORKER_PORT: String(workerPort),
    GATEWAY_API_TOKENS: TOKEN,
    PUBLIC_BASE_URL: 'https://hooks.demo.example.com',
    WEBHOOK_URL_VERIFY: 'syntax',
    OUTBOUND_ALLOW: '127.0.0.1',
    LLAMA_CLOUD_BASE_URL: fake.baseUrl,
    LLAMA_CLOUD_API_KEY: fake.apiKey,
    DELIVERY_RETRY_SCHEDULE: '0,2,5,10',
    RECONCILE_INTERVAL_MS: '500',
    RECONCILE_FIRST_POLL_DELAY_MS: '1000',
  };
  for (const app of ['gateway', 'worker']) {
    const child = spawn(process.execPath, [join(root, 'apps', app, 'dist', 'main.js')], {
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    children.push(child);
  }
  const gateway = `http://127.0.0.1:${gatewayPort}`;
  await waitFor(async () => (await fetch(`${gateway}/readyz`)).ok, 'the gateway');
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${workerPort}/readyz`)).ok,
    'the worker',
  );
  say(
    `   gateway on ${gateway}, public callback URL https://hooks.demo.example.com (in this demo it leads back here)`,
  );

  say('5. the pipeline submits four documents with POST /v1/parse');
  const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const docs = ['doc-1', 'doc-2', 'doc-3', 'doc-4'];
  const submissions = {};
  for (const doc of docs) {
    const response = await fetch(`${gateway}/v1/parse`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({
        source_url: `https://docs.example.com/${doc}.pdf`,
        deliver_to: `http://127.0.0.1:${pipelinePort}/${doc}`,
        expect_callback_within_s: 3,
      }),
    });
    submissions[doc] = (await response.json()).id;
  }
  const views = {};
  await waitFor(async () => {
    for (const doc of docs) {
      views[doc] = await (
        await fetch(`${gateway}/v1/parse/${submissions[doc]}`, { headers: auth })
      ).json();
    }
    return docs.every((doc) => views[doc].state === 'submitted');
  }, 'the submissions');
  for (const doc of docs) {
    secrets.set(
      doc,
      await redisHget(redis.url, `{cbgw}:reg:${views[doc].registration_id}`, 'delivery_secret'),
    );
    say(
      `   ${doc}: registered (${views[doc].registration_id}), submitted to LlamaParse as job ${views[doc].parse_job_id}`,
    );
  }

  say('6. LlamaParse finishes the jobs');
  dropped.add(views['doc-2'].parse_job_id);
  duplicated.add(views['doc-3'].parse_job_id);
  for (const doc of docs) fake.complete(views[doc].parse_job_id);
  say(
    '   doc-2: the parser drops its callback (it never arrives): the gateway knows it is still waiting',
  );
  say('   doc-3: the parser sends its callback twice');

  await waitFor(
    () => new Set(received.map((entry) => entry.webhookId)).size === 4,
    'all four deliveries',
    60_000,
  );
  await delay(1_000);

  const attempts = fake.callbackAttempts.length;
  const duplicates = Number(
    /cbgw_callbacks_total\{[^}]*outcome="duplicate"[^}]*\} (\d+)/.exec(
      await (await fetch(`${gateway}/metrics`)).text(),
    )?.[1] ?? 0,
  );
  const reconciled = received.filter((entry) => entry.reconciled).length;
  console.log('');
  say('Tally');
  console.log(`   documents submitted ............ 4`);
  console.log(`   callbacks the parser sent ....... ${attempts} (one dropped, one twice)`);
  console.log(`   duplicates answered 200 ........ ${duplicates}`);
  console.log(`   recovered by reconciliation .... ${reconciled}`);
  console.log(`   pipeline failures retried ...... 1`);
  console.log(
    `   ${new Set(received.map((entry) => entry.webhookId)).size} of 4 documents reached the pipeline, each once (by webhook-id)`,
  );
  console.log('');
  console.log(
    `   Look around: ${gateway}/metrics, ${gateway}/v1/deliveries?state=delivered (Bearer ${TOKEN}),`,
  );
  console.log(
    `   ${gateway}/openapi.json, and the worker's metrics at http://127.0.0.1:${workerPort}/metrics.`,
  );
  if (process.env.DEMO_EXIT) await stopAll(0);
  console.log('   Everything keeps running: Ctrl-C stops it.');
} catch (error) {
  console.error(`demo: ${error.message}`);
  await stopAll(1);
}

async function redisHget(url, key, field) {
  const { Redis } = await import('ioredis');
  const client = new Redis(url);
  const value = await client.hget(key, field);
  client.disconnect();
  return value ?? '';
}
