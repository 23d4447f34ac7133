import { Redis } from 'ioredis';
import { readCpuSeconds } from '../lib/cpu-time.mjs';
import { figure } from '../lib/report.mjs';
import { startBenchRedis } from '../lib/stack.mjs';

/**
 * What this machine charges for the work no design avoids, measured the same way as the
 * figures: CPU time of the process doing it. They bound what the ratios can reach here:
 * storing a 2 KB callback and answering for it costs Redis at least "round trip + fresh 2 KB"
 * on top of anything the gateway does, and a bare endpoint pays neither.
 *
 * - Redis CPU per request/answer round trip (a PING alone) over TCP and over the Unix socket,
 *   and per PING when 50 share a write.
 * - Redis CPU per SET of a new 2 KB value (fresh memory: the pages are touched for the first
 *   time), and per SET overwriting one of 100 keys (memory reused), 50 to a write.
 * - Node CPU to encode 2 KB of text to UTF-8 bytes (what a client does with a string argument).
 */
export async function floors(settings) {
  const redis = await startBenchRedis(settings);
  const client = new Redis(redis.url);
  const count = 20_000;
  const redisCpu = async (work) => {
    const before = readCpuSeconds(redis.pid);
    await work();
    return ((readCpuSeconds(redis.pid) - before) * 1e6) / count;
  };
  const value = 'x'.repeat(2_048);
  const pipelined = (command) => async () => {
    for (let i = 0; i < count; i += 50) {
      const batch = client.pipeline();
      for (let j = 0; j < 50; j++) command(batch, i + j);
      await batch.exec();
    }
  };
  const pingAlone = await redisCpu(async () => {
    for (let i = 0; i < count; i++) await client.ping();
  });
  const socketClient = new Redis(redis.socketUrl);
  const pingSocket = await redisCpu(async () => {
    for (let i = 0; i < count; i++) await socketClient.ping();
  });
  socketClient.disconnect();
  const pingShared = await redisCpu(pipelined((batch) => batch.ping()));
  const setFresh = await redisCpu(pipelined((batch, i) => batch.set(`fresh:${i}`, value)));
  const setReused = await redisCpu(pipelined((batch, i) => batch.set(`reused:${i % 100}`, value)));
  client.disconnect();

  const text = 'é'.repeat(1) + 'x'.repeat(2_047);
  const ascii = 'y'.repeat(2_048);
  const encode = (sample) => {
    for (let i = 0; i < 2_000; i++) Buffer.from(sample + i, 'utf8');
    const started = process.cpuUsage();
    for (let i = 0; i < count; i++) Buffer.from(sample + i, 'utf8');
    const used = process.cpuUsage(started);
    return (used.user + used.system) / count;
  };
  const encodeAscii = encode(ascii);
  const encodeMixed = encode(text);

  const row = (name, value, note) => figure('floors', name, value, 'µs', { note });
  return {
    rows: [
      row('Redis CPU per round trip (PING)', pingAlone, 'syscalls and wake-ups of one request'),
      row('Redis CPU per round trip, Unix socket', pingSocket, 'the same over REDIS_URL=unix://'),
      row('Redis CPU per PING, 50 per write', pingShared, 'what batching leaves of it'),
      row(
        'Redis CPU per SET of a new 2 KB value',
        setFresh,
        'fresh memory: first-touch page faults',
      ),
      row('Redis CPU per SET overwriting 2 KB', setReused, 'memory reused'),
      row('Node CPU to UTF-8 encode 2 KB (ASCII)', encodeAscii, 'a string argument'),
      row('Node CPU to UTF-8 encode 2 KB (one é)', encodeMixed, 'two-byte string'),
    ],
    raw: { pingAlone, pingSocket, pingShared, setFresh, setReused, encodeAscii, encodeMixed },
  };
}
