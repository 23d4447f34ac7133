import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardFile, readText } from './support/paths.js';
import { exposedSeriesNames, metricNamesIn } from './support/promql.js';
import { shippedAlerts } from './support/rules.js';
import { startApps, type AppStack } from './support/stack.js';

/** Series Prometheus makes itself, not the apps. */
const PROMETHEUS_SERIES = new Set(['up', 'ALERTS', 'ALERTS_FOR_STATE']);

interface Panel {
  title: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}

function dashboardExpressions(): { where: string; expr: string }[] {
  const dashboard = JSON.parse(readText(dashboardFile)) as { panels: Panel[] };
  const all = (panels: Panel[]): Panel[] =>
    panels.flatMap((panel) => [panel, ...all(panel.panels ?? [])]);
  return all(dashboard.panels).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      where: `dashboard panel "${panel.title}"`,
      expr: target.expr,
    })),
  );
}

describe('metric names used by rules and dashboards', () => {
  let redis: TestRedis | undefined;
  let apps: AppStack | undefined;
  let exposed = new Set<string>();

  beforeAll(async () => {
    redis = await startRedis();
    apps = await startApps(redis);
    const stack = apps;
    const texts = await Promise.all(
      [stack.gatewayUrl, stack.workerUrl].map(async (url) =>
        (await fetch(`${url}/metrics`)).text(),
      ),
    );
    exposed = exposedSeriesNames(texts.join('\n'));
  });

  afterAll(async () => {
    await apps?.stop();
    await redis?.close();
  });

  it('all exist in the /metrics output of the built gateway and worker', () => {
    const uses = [
      ...shippedAlerts().map((alert) => ({ where: `alert ${alert.alert}`, expr: alert.expr })),
      ...dashboardExpressions(),
    ];
    expect(uses.length).toBeGreaterThan(30);
    const missing = uses.flatMap(({ where, expr }) =>
      metricNamesIn(expr)
        .filter((name) => !PROMETHEUS_SERIES.has(name) && !exposed.has(name))
        .map((name) => `${where}: ${name}`),
    );
    expect(missing).toEqual([]);
  });

  it('are read from the exposition including labelled counters never incremented', () => {
    // Sanity of the check itself: names that only have a # TYPE line right after start.
    expect(exposed.has('cbgw_delivery_attempts_total')).toBe(true);
    expect(exposed.has('cbgw_breaker_state')).toBe(true);
    expect(exposed.has('cbgw_callback_ack_duration_seconds_bucket')).toBe(true);
    expect(exposed.has('cbgw_no_such_metric')).toBe(false);
  });
});
