import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMonitoring, query, type Monitoring } from './support/monitoring.js';
import {
  postProgressEvent,
  register,
  startApps,
  startRecorder,
  until,
  type AppStack,
  type Recorder,
} from './support/stack.js';

interface AlertmanagerWebhook {
  status: string;
  alerts: { status: string; labels: Record<string, string>; annotations: Record<string, string> }[];
}

/**
 * The whole alerting path on loopback: the built gateway and worker, a real Prometheus scraping
 * them with the shipped rules (for: set to 0s), a real Alertmanager with the shipped routes,
 * and a webhook receiver standing in for the pager.
 */
describe('alerting end to end', () => {
  let redis: TestRedis | undefined;
  let pipeline: Recorder | undefined;
  let pager: Recorder | undefined;
  let apps: AppStack | undefined;
  let monitoring: Monitoring | undefined;

  beforeAll(async () => {
    redis = await startRedis();
    pipeline = await startRecorder(200);
    pager = await startRecorder(200);
    apps = await startApps(redis, {
      DELIVERY_RETRY_SCHEDULE: '0,0.2',
      // Keep the consecutive-failures rule of the breaker out of the way.
      DELIVERY_BREAKER_FAILURES: '1000',
    });
    monitoring = await startMonitoring({
      targets: {
        'cbgw-gateway': `${new URL(apps.gatewayUrl).host}`,
        'cbgw-worker': `${new URL(apps.workerUrl).host}`,
      },
      webhookUrl: `${pager.url}/alerts`,
    });
  });

  afterAll(async () => {
    await monitoring?.stop();
    await apps?.stop();
    await pager?.close();
    await pipeline?.close();
    await redis?.close();
  });

  const firing = (name: string) =>
    (pager?.bodies ?? []).some((body) =>
      (body as AlertmanagerWebhook).alerts.some(
        (alert) => alert.labels['alertname'] === name && alert.status === 'firing',
      ),
    );

  it('pages CbgwDeliveryFailureRatioHigh once the pipeline starts failing, and not before', async ({
    annotate,
  }) => {
    if (!apps || !pipeline || !monitoring) throw new Error('not started');
    const { prometheusUrl } = monitoring;
    const stack = apps;
    await until('both processes scraped', async () => {
      const up = await query(prometheusUrl, 'up{job=~"cbgw-gateway|cbgw-worker"} == 1');
      return up.length === 2;
    });

    const callbackPath = await register(stack, `${pipeline.url}/hook`);
    // A counter's first sample in Prometheus is its baseline: let Prometheus see each series
    // (delivered, then 5xx) before the bulk of its increments, so that increase() counts them.
    const seen = (promql: string) =>
      until(promql, async () => (await query(prometheusUrl, promql)).length > 0);
    // One origin must stay below the breaker's ratio rule (50 % of 20+ results in a minute):
    // 10 deliveries, then 3 failing callbacks of 3 attempts each (DELIVERY_RETRY_SCHEDULE 0,0.2).
    await postProgressEvent(stack, callbackPath, 'healthy-0');
    await seen('cbgw_delivery_attempts_total{result="2xx"}');
    for (let i = 1; i < 10; i++) await postProgressEvent(stack, callbackPath, `healthy-${i}`);
    await until('healthy deliveries', () => pipeline?.bodies.length === 10);
    // Several evaluations with the rules' for: at 0s: a healthy pipeline pages nobody.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(firing('CbgwDeliveryFailureRatioHigh')).toBe(false);
    expect(await query(prometheusUrl, 'ALERTS{alertname="CbgwDeliveryFailureRatioHigh"}')).toEqual(
      [],
    );

    const brokeAt = Date.now();
    pipeline.status = 500;
    await postProgressEvent(stack, callbackPath, 'failing-0');
    await seen('cbgw_delivery_attempts_total{result="5xx"}');
    await postProgressEvent(stack, callbackPath, 'failing-1');
    await postProgressEvent(stack, callbackPath, 'failing-2');
    await until(
      'the delivery failure alert at the receiver',
      () => firing('CbgwDeliveryFailureRatioHigh'),
      45_000,
    );
    const seconds = (Date.now() - brokeAt) / 1000;
    await annotate(`alert received ${seconds.toFixed(1)} s after the pipeline broke`);

    const alert = (pager?.bodies as AlertmanagerWebhook[])
      .flatMap((body) => body.alerts)
      .find((candidate) => candidate.labels['alertname'] === 'CbgwDeliveryFailureRatioHigh');
    expect(alert?.labels['severity']).toBe('critical');
    expect(alert?.annotations['runbook_url']).toBe(
      'docs/operating.md#cbgwdeliveryfailureratiohigh',
    );
    // The breaker stayed closed: every failing attempt reached the pipeline.
    expect(await query(prometheusUrl, 'cbgw_breaker_state')).toEqual([]);
  });
});
