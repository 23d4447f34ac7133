import { startHelper } from '../lib/ipc.mjs';
import { figure } from '../lib/report.mjs';
import { sampleRss } from '../lib/rss.mjs';
import { register, startApps, startBenchRedis } from '../lib/stack.mjs';
import { epochMs, log, scoped, waitFor } from '../lib/util.mjs';

/**
 * The whole path at a fixed offered rate: an open-loop sender posts to the gateway, the worker
 * delivers to the pipeline server, which takes receipt - send time. Counted at both ends: every
 * callback answered 202 must arrive (`lost` = acknowledged - received). The RSS of gateway,
 * worker and Redis is sampled from /proc meanwhile. A fresh Redis and stack per run.
 */
export async function runPaced(
  settings,
  rate,
  durationS,
  label,
  { startStore = startBenchRedis } = {},
) {
  return scoped(async () => {
    const redis = await startStore(settings);
    const apps = await startApps(redis, settings);
    const pipeline = await startHelper('pipeline-server', { cpus: settings.cpus.loadgen });
    const pipelineUrl = `http://127.0.0.1:${await pipeline.call('port')}`;
    const sender = await startHelper('paced-sender', { cpus: settings.cpus.loadgen });
    const paths = await register(
      apps.gatewayUrl,
      settings.registrations,
      (i) => `${pipelineUrl}/hook/${i}`,
    );
    await pipeline.call('reset', { mode: 'latency' });
    const rss = sampleRss({
      gateway: apps.gateway.child.pid,
      worker: apps.worker.child.pid,
      redis: redis.pid ?? redis.pids?.[0],
    });
    log(`${label}: ${rate}/s for ${settings.warmup} s warm-up + ${durationS} s`);
    const sent = await sender.call('run', {
      baseUrl: apps.gatewayUrl,
      paths,
      rate,
      warmupS: settings.warmup,
      durationS,
      bytes: settings.bodyBytes,
      idPrefix: `${label}-${Date.now().toString(36)}`,
      maxConnections: 512,
    });
    const acknowledged = sent.accepted + sent.warmAccepted;
    const sendEnd = epochMs();
    const drained = await waitFor(
      async () => (await pipeline.call('stats')).received >= acknowledged,
      settings.e2eDrainTimeout * 1000,
      200,
    );
    const drainMs = drained ? epochMs() - sendEnd : undefined;
    const received = await pipeline.call('stats', { withLatency: true });
    const memory = rss.stop();
    return {
      rate,
      durationS,
      sent,
      received,
      drained,
      drainMs,
      lost: sent.accepted - received.measuredReceived,
      lostAll: acknowledged - received.received,
      memory,
    };
  });
}

export async function e2e(settings) {
  const rows = [];
  const runs = [];
  for (const rate of settings.e2eRates) {
    const run = await runPaced(settings, rate, settings.e2eDuration, `e2e-${rate}`);
    runs.push({ ...run, memory: { peaks: run.memory.peaks } });
    const { latency } = run.received;
    const at = `${rate}/s ${settings.e2eDuration} s`;
    const notes = [
      `sender late p99 ${run.sent.senderLatenessMs.p99.toFixed(1)} ms`,
      `ack p99 ${run.sent.ackLatencyMs.p99.toFixed(1)} ms`,
    ].join(', ');
    const goal = rate === 1000;
    const p99 = figure('e2e', `${at}: p99 POST→receipt`, latency.p99, 'ms', {
      baseline: 50,
      baselineLabel: 'goal',
      note: notes,
    });
    if (goal) p99.goal = { text: '≤ 50 ms', met: latency.p99 <= 50 };
    rows.push(
      figure('e2e', `${at}: p50 POST→receipt`, latency.p50, 'ms'),
      p99,
      figure('e2e', `${at}: max POST→receipt`, latency.max, 'ms'),
    );
    const drainNote = run.drained
      ? `drained ${Math.round(run.drainMs)} ms after the last send`
      : `NOT drained in ${settings.e2eDrainTimeout} s: still queued or lost`;
    const lost = figure('e2e', `${at}: acked, not received`, run.lost, '', {
      note:
        `sent ${run.sent.sent}, acked ${run.sent.accepted + run.sent.warmAccepted}, ` +
        `not acked ${run.sent.rejected + run.sent.errors}, received ${run.received.received}, ` +
        `duplicates ${run.received.duplicates}, ${drainNote}`,
    });
    lost.goal = {
      text: '0',
      met:
        run.drained &&
        run.lost === 0 &&
        run.lostAll === 0 &&
        run.sent.rejected + run.sent.errors === 0,
    };
    rows.push(lost);
    rows.push(
      figure('e2e', `${at}: achieved rate`, run.sent.accepted / settings.e2eDuration, '/s', {
        baseline: rate,
        baselineLabel: 'offered',
      }),
    );
    for (const name of ['gateway', 'worker']) {
      rows.push(figure('memory', `${at}: peak RSS ${name}`, run.memory.peaks[name], 'MiB'));
    }
  }
  return { rows, raw: runs };
}
