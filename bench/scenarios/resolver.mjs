import { createAuditLog, createLogger, logAuditSink } from '@callback-gateway/audit';
import { WebhookUrlResolveError, createWebhookUrlResolver } from '@callback-gateway/webhook-url';
import { figure } from '../lib/report.mjs';
import { summarize } from '../lib/util.mjs';

/**
 * The public URL resolver, in this process: the time to a typed failure with no source
 * configured (a fresh resolver per call, the first call of the process reported apart), and
 * the time of a cached `resolve()` (PUBLIC_BASE_URL at `syntax` depth, resolved once, then
 * timed call by call). The baseline of the cached figure is the floor of any async call here:
 * `await Promise.resolve(value)`, timed the same way in the same run.
 */
export async function resolver(settings) {
  const logger = createLogger({ name: 'bench', level: 'silent' });
  const audit = createAuditLog({
    actor: { kind: 'system', id: 'bench' },
    sinks: [logAuditSink(logger)],
    logger,
  });
  const failures = [];
  const codes = new Set();
  for (let i = 0; i <= settings.resolverFailures; i++) {
    const subject = createWebhookUrlResolver({ audit, logger });
    const started = performance.now();
    try {
      await subject.resolve();
      throw new Error('resolved with no source configured');
    } catch (error) {
      if (!(error instanceof WebhookUrlResolveError)) throw error;
      failures.push(performance.now() - started);
      codes.add(error.code);
    }
    await subject.close();
  }
  const [coldFailure, ...warmFailures] = failures;

  const cached = createWebhookUrlResolver({
    audit,
    logger,
    sources: ['cloud_config'],
    publicBaseUrl: 'https://hooks.example.com',
    verify: 'syntax',
  });
  const first = performance.now();
  const { baseUrl } = await cached.resolve();
  const firstMs = performance.now() - first;
  const calls = [];
  const floor = [];
  const value = { baseUrl };
  for (let i = 0; i < settings.resolverCalls; i++) {
    let t = performance.now();
    await cached.resolve();
    calls.push(performance.now() - t);
    t = performance.now();
    await Promise.resolve(value);
    floor.push(performance.now() - t);
  }
  await cached.close();
  await audit.close?.();

  const fail = summarize(warmFailures);
  const hit = summarize(calls);
  const base = summarize(floor);
  const failRow = figure(
    'resolver',
    `typed failure p99 (${warmFailures.length} fresh resolvers)`,
    fail.p99,
    'ms',
    {
      baseline: 50,
      baselineLabel: 'goal',
      note: `code ${[...codes].join(', ')}; p50 ${fail.p50.toFixed(3)} ms; first of the process ${coldFailure.toFixed(1)} ms`,
    },
  );
  failRow.goal = { text: '≤ 50 ms', met: fail.max <= 50 && coldFailure <= 50 };
  const hitRow = figure('resolver', `cached resolve p99 (${calls.length} calls)`, hit.p99, 'ms', {
    baseline: base.p99,
    baselineLabel: 'await Promise.resolve',
    note: `p50 ${(hit.p50 * 1000).toFixed(1)} µs (floor ${(base.p50 * 1000).toFixed(1)} µs), max ${hit.max.toFixed(3)} ms; first resolve ${firstMs.toFixed(2)} ms`,
  });
  hitRow.goal = { text: '≤ 1 ms', met: hit.p99 <= 1 };
  return {
    rows: [failRow, hitRow],
    raw: {
      coldFailureMs: coldFailure,
      failure: fail,
      codes: [...codes],
      firstResolveMs: firstMs,
      cached: hit,
      floor: base,
    },
  };
}
