import { createHistoryRecorder, storeKeys } from '@callback-gateway/store';
import { Redis } from 'ioredis';
import { figure } from '../lib/report.mjs';
import { API_TOKEN, register, startApps, startBenchRedis } from '../lib/stack.mjs';
import { log, summarize, waitFor } from '../lib/util.mjs';

/** Destinations the dead letters are spread over (a closed port: every attempt fails). */
const DEAD_DESTINATIONS = 10;

/**
 * The on-call page's data calls with a full store: `--dashboard-registrations` registrations,
 * `--dashboard-dead-letters` of them dead-lettered (one attempt each, to a closed port, over ten
 * destinations), and 24 hours of per-minute history. Each call is timed `--dashboard-calls`
 * times in a row, through HTTP with a bearer token, as the page makes it (goal: under 200 ms).
 * Also: the Redis memory those 24 hours of history take (`MEMORY USAGE` of every bucket).
 */
export async function dashboard(settings) {
  const redis = await startBenchRedis(settings);
  const apps = await startApps(redis, {
    ...settings,
    appEnv: {
      ...settings.appEnv,
      DELIVERY_RETRY_SCHEDULE: '0',
      // Every dead letter goes to one closed port: keep the breakers from holding them.
      DELIVERY_BREAKER_FAILURE_PERCENT: '100',
      DELIVERY_BREAKER_MIN_REQUESTS: '1000000',
    },
  });
  const client = new Redis(redis.url);
  const keys = storeKeys();
  try {
    const count = settings.dashboardRegistrations;
    const dead = Math.min(settings.dashboardDeadLetters, count);
    log(`dashboard: ${count} registrations, ${dead} of them dead-lettered`);
    const paths = await register(apps.gatewayUrl, count, (i) =>
      i < dead ? `http://127.0.0.1:9/d${i % DEAD_DESTINATIONS}` : `http://127.0.0.1:9/ok${i}`,
    );
    for (let from = 0; from < dead; from += 50) {
      await Promise.all(
        paths.slice(from, Math.min(dead, from + 50)).map(async (path, i) => {
          const response = await fetch(`${apps.gatewayUrl}${path}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              event_id: `e${from + i}`,
              event_type: 'parse.success',
              data: { job_id: `j${from + i}` },
            }),
          });
          if (response.status !== 202) throw new Error(`callback answered ${response.status}`);
        }),
      );
    }
    await waitFor(
      async () => (await client.zcard(keys.deliveryState('dead_lettered'))) >= dead,
      120_000,
    );

    // 24 hours of history, as the gateway and the worker write it (one recorder, a moving clock).
    let clock = Date.now() - 24 * 3_600_000;
    const history = createHistoryRecorder({
      redis: client,
      keys,
      now: () => clock,
      flushMs: 3_600_000,
    });
    const reasons = [
      'not_found',
      'bad_signature',
      'malformed_callback',
      'payload_too_large',
      'intake_busy',
    ];
    for (let minute = 0; minute < 24 * 60; minute++, clock += 60_000) {
      history.count('received', 600);
      history.count('registered', 600);
      history.count('delivered', 590);
      history.count('retried', 10);
      history.count('dead_lettered', 1);
      for (const reason of reasons) history.rejected(reason);
      for (let i = 0; i < 12; i++) {
        history.attempt(
          `http://127.0.0.1:9/d${i % DEAD_DESTINATIONS}`,
          5 * 2 ** i,
          i % 4 ? undefined : 'HTTP 500',
        );
      }
      await history.oldestWaiting(minute % 30);
      if (minute % 60 === 59) await history.flush();
    }
    await history.close();
    // Every bucket of the last 24 hours: minutes and ten minutes.
    const bucketKeys = [];
    for (const span of [60_000, 600_000]) {
      const last = Math.floor(clock / span) * span;
      for (let at = last - 24 * 3_600_000; at <= last; at += span) {
        bucketKeys.push(keys.history(at, span));
      }
    }
    const pipeline = client.pipeline();
    for (const key of bucketKeys) pipeline.memory('USAGE', key, 'SAMPLES', '0');
    const usage = ((await pipeline.exec()) ?? []).reduce(
      (sum, [, bytes]) => sum + Number(bytes ?? 0),
      0,
    );

    const calls = {
      summary: '/v1/dashboard/summary',
      destinations: '/v1/dashboard/destinations',
      'history 1 h': '/v1/dashboard/history?hours=1',
      'history 24 h': '/v1/dashboard/history?hours=24',
    };
    const rows = [
      figure('dashboard', '24 h of history: Redis memory', usage / 1024, 'KiB', {
        note: `${bucketKeys.length} buckets of 1 and 10 min (MEMORY USAGE), ${(usage / bucketKeys.length).toFixed(0)} B each`,
      }),
    ];
    const raw = { registrations: count, deadLetters: dead, historyBytes: usage, calls: {} };
    for (const [name, path] of Object.entries(calls)) {
      const times = [];
      for (let i = 0; i < settings.dashboardCalls; i++) {
        const started = performance.now();
        const response = await fetch(`${apps.gatewayUrl}${path}`, {
          headers: { authorization: `Bearer ${API_TOKEN}` },
        });
        await response.arrayBuffer();
        if (response.status !== 200) throw new Error(`${path} answered ${response.status}`);
        times.push(performance.now() - started);
      }
      const stats = summarize(times);
      raw.calls[name] = stats;
      rows.push(
        figure(
          'dashboard',
          `${name} (${count} registrations, ${dead} dead letters)`,
          stats.p99,
          'ms p99',
          {
            goal: { text: '< 200 ms', met: stats.p99 < 200 },
            note: `p50 ${stats.p50.toFixed(1)} ms, max ${stats.max.toFixed(1)} ms, ${times.length} calls`,
          },
        ),
      );
    }
    return { rows, raw };
  } finally {
    client.disconnect();
  }
}
