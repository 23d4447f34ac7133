// The naive delivery peer (issue 20): what one would write in 50 lines with the same packages.
// A BullMQ Worker (concurrency 50) on a pre-filled queue; per job, sign with `standardwebhooks`,
// POST with undici, and throw on a non-2xx so that BullMQ retries. No audit, no state, no
// breaker, no metrics.
import { randomBytes } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Webhook } from 'standardwebhooks';
import { Agent, request } from 'undici';
import { envelopeBody } from './bodies.mjs';
import { redisClient, serve } from './ipc.mjs';

const NAIVE_QUEUE = 'naive-deliveries';
let webhook = new Webhook(randomBytes(32).toString('base64'));
const dispatcher = new Agent({ keepAliveTimeout: 60_000 });
let redisUrl;
let worker;

async function deliver(job) {
  const { url, body } = job.data;
  const timestamp = new Date();
  const response = await request(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': job.id,
      'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
      'webhook-signature': webhook.sign(job.id, timestamp, body),
    },
    body,
    dispatcher,
  });
  await response.body.dump();
  if (response.statusCode < 200 || response.statusCode >= 300)
    throw new Error(`delivery answered ${response.statusCode}`);
}

serve({
  // `secret` (base64, optional): the signing key, for a test to check the signatures.
  setup({ redisUrl: url, secret }) {
    redisUrl = url;
    if (secret) webhook = new Webhook(secret);
  },
  // Pre-fills the queue: `count` 2 KB events, `jobId` = `event_id`, spread over `urls`.
  async fill({ urls, count, bytes, idPrefix }) {
    const queue = new Queue(NAIVE_QUEUE, { connection: redisClient(redisUrl) });
    const opts = {
      attempts: 5,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: true,
    };
    for (let from = 0; from < count; from += 1000) {
      const jobs = [];
      for (let i = from; i < Math.min(count, from + 1000); i++) {
        const eventId = `${idPrefix}-${i}`;
        const body = envelopeBody(eventId, bytes);
        jobs.push({
          name: 'deliver',
          data: { url: urls[i % urls.length], body },
          opts: { ...opts, jobId: eventId },
        });
      }
      await queue.addBulk(jobs);
    }
    const waiting = await queue.getWaitingCount();
    await queue.close();
    return waiting;
  },
  async start({ concurrency }) {
    worker = new Worker(NAIVE_QUEUE, deliver, {
      connection: redisClient(redisUrl),
      concurrency,
    });
    await worker.waitUntilReady();
  },
  async stop() {
    await worker?.close();
    worker = undefined;
  },
});
