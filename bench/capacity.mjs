// `npm run -s build && node bench/capacity.mjs [--callbacks=N] [--large=N]`: measures what one
// callback costs Redis, for docs/capacity.md. On its own Redis (no AOF), with the built gateway
// and worker: memory per registration, per stored callback (2 KB v2 envelope, 1 MB legacy body)
// with the worker stopped, then per delivery record once the worker has delivered them; and the
// time Redis spent inside commands per callback (INFO commandstats), intake plus delivery.
import { createServer } from 'node:http';
import { startAppStack, startRedis } from '@callback-gateway/testing';
import { Redis } from 'ioredis';
import { envelopeBody, legacyBody } from './lib/bodies.mjs';
import { readCpuSeconds } from './lib/cpu-time.mjs';
import { redisPid } from './lib/cpus.mjs';
import { addCommandDelta, commandStats } from './lib/redis-commands.mjs';
import { API_TOKEN, register } from './lib/stack.mjs';
import { waitFor } from './lib/util.mjs';

const arg = (name, fallback) =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const COUNT = arg('callbacks', 2_000);
const LARGE = arg('large', 20);

const redisServer = await startRedis();
const redis = new Redis(redisServer.url, { disableClientInfo: true });
const pid = redisPid(redisServer.port);
const cpu = () => readCpuSeconds(pid) ?? Number.NaN;
const pipeline = createServer((request, response) => {
  request.resume();
  request.on('end', () => response.writeHead(200).end());
});
await new Promise((resolve) => pipeline.listen(0, '127.0.0.1', resolve));
const deliverTo = () => `http://127.0.0.1:${pipeline.address().port}/hook`;
const stack = await startAppStack({
  redisUrl: redisServer.url,
  env: {
    LOG_LEVEL: 'warn',
    PUBLIC_BASE_URL: 'https://hooks.example.com',
    WEBHOOK_URL_VERIFY: 'syntax',
    OUTBOUND_ALLOW: '127.0.0.1',
    GATEWAY_API_TOKENS: API_TOKEN,
    DELIVERY_BREAKER_FAILURES: '1000',
    SHUTDOWN_DEADLINE_MS: '5000',
  },
});

const usedMemory = async () => {
  // Settle: lazy frees and the allocator's caches.
  await redis.call('MEMORY', 'PURGE');
  const info = await redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1]);
};
const delivered = async () => {
  const response = await fetch(`${stack.gatewayUrl}/v1/dashboard/summary`, {
    headers: { authorization: `Bearer ${API_TOKEN}` },
  });
  return (await response.json()).deliveries.delivered ?? 0;
};
const post = async (paths, body) => {
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < paths.length) {
        const i = next++;
        const response = await fetch(`${stack.gatewayUrl}${paths[i]}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: body(i),
        });
        if (response.status !== 202) throw new Error(`callback answered ${response.status}`);
      }
    }),
  );
};
const calls = (delta) => [...delta.values()].reduce((sum, entry) => sum + entry.calls, 0);
const per = (value, count) => Math.round((value / count) * 10) / 10;

async function round(label, count, body) {
  await stack.worker.stop();
  const paths = await register(stack.gatewayUrl, count, deliverTo);
  const beforeCallbacks = await usedMemory();
  const statsBefore = await commandStats(redisServer.url);
  const cpuBefore = cpu();
  await post(paths, body);
  const cpuStored = cpu();
  const afterCallbacks = await usedMemory();
  const statsStored = await commandStats(redisServer.url);
  const baseDelivered = await delivered();
  const cpuRestart = cpu();
  await stack.restartWorker();
  await waitFor(async () => (await delivered()) - baseDelivered >= count, 300_000);
  const cpuDelivered = cpu();
  // The worker's last writes (audit, outcomes in groups) settle.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const afterDelivery = await usedMemory();
  const statsDelivered = await commandStats(redisServer.url);
  const intake = addCommandDelta(new Map(), statsBefore, statsStored);
  const delivery = addCommandDelta(new Map(), statsStored, statsDelivered);
  const keyBytes = [];
  for (const key of (await redis.keys('{cbgw}:cb:*')).slice(-3)) {
    keyBytes.push(Number(await redis.call('MEMORY', 'USAGE', key)));
  }
  await redis.del(...(await redis.keys('{cbgw}:cb:*')));
  return {
    label,
    count,
    storedBytesPerCallback: Math.round((afterCallbacks - beforeCallbacks) / count),
    deliveryBytesPerCallback: Math.round((afterDelivery - afterCallbacks) / count),
    callbackKeyBytes: keyBytes,
    // Redis CPU (user + system, from /proc; 10 ms ticks) per callback, the delivery phase
    // including the worker's start-up.
    redisCpuUsPerCallback: {
      intake: per((cpuStored - cpuBefore) * 1e6, count),
      delivery: per((cpuDelivered - cpuRestart) * 1e6, count),
    },
    redisCommandsPerCallback: {
      intake: per(calls(intake), count),
      delivery: per(calls(delivery), count),
    },
  };
}

try {
  const empty = await usedMemory();
  const probe = await register(stack.gatewayUrl, 1_000, deliverTo);
  const registrationBytes = Math.round(((await usedMemory()) - empty) / probe.length);
  const small = await round('2 KB v2 envelope', COUNT, (i) => envelopeBody(`e${i}`, 2_048));
  const large = await round('1 MB legacy body', LARGE, () => legacyBody(1_048_576));
  console.log(
    JSON.stringify(
      {
        date: new Date().toISOString(),
        redis: (await redis.info('server')).match(/redis_version:(\S+)/)?.[1],
        registrationBytes,
        small,
        large,
      },
      null,
      2,
    ),
  );
} finally {
  await stack.stop();
  redis.disconnect();
  pipeline.close();
  await redisServer.close();
}
