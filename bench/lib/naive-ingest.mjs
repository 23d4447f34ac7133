// The naive ingest peer (issue 20): what one would write in 50 lines with the same packages.
// Fastify with its JSON parser; per request a Redis GET of the token, then BullMQ `queue.add`
// with `jobId` = the event's `event_id` (BullMQ's own dedup) and `removeOnComplete`; then 202.
// No audit, no state, no metrics. Tokens are SET under `naive:token:<token>` by `tokens`.
import { Queue } from 'bullmq';
import Fastify from 'fastify';
import { redisClient, serve } from './ipc.mjs';

const NAIVE_QUEUE = 'naive-callbacks';
const TOKEN_PREFIX = 'naive:token:';

let redis;
let queue;
const app = Fastify({ logger: false });
app.post('/v1/callbacks/llamaparse/:token', async (request, reply) => {
  const registration = await redis.get(`${TOKEN_PREFIX}${request.params.token}`);
  if (registration === null) return reply.code(404).send({ error: 'unknown token' });
  const event = request.body;
  await queue.add(
    'callback',
    { registration, event },
    { jobId: event.event_id, removeOnComplete: true },
  );
  return reply.code(202).send({ accepted: true });
});

serve({
  async start({ redisUrl }) {
    redis = redisClient(redisUrl);
    queue = new Queue(NAIVE_QUEUE, { connection: redisClient(redisUrl) });
    await queue.waitUntilReady();
    await app.listen({ port: 0, host: '127.0.0.1' });
    return app.server.address().port;
  },
  // The callback paths' tokens, registered for the peer (one SET each).
  async tokens({ paths }) {
    const pipeline = redis.pipeline();
    for (const path of paths) pipeline.set(`${TOKEN_PREFIX}${path.split('/').pop()}`, path);
    await pipeline.exec();
    return paths.length;
  },
});
