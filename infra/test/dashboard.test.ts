import { describe, expect, it } from 'vitest';
import { dashboardFile, infraDir, readText, readYaml } from './support/paths.js';

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: { refId: string; expr: string; datasource?: { uid: string } }[];
}

const dashboard = JSON.parse(readText(dashboardFile)) as {
  uid: string;
  title: string;
  panels: Panel[];
};
const panels = dashboard.panels.filter((panel) => panel.type !== 'row');
const exprs = (title: string) =>
  (panels.find((panel) => panel.title === title)?.targets ?? [])
    .map((target) => target.expr)
    .join('\n');

describe('the Grafana dashboard', () => {
  it('has a panel for everything the on-call engineer looks at', () => {
    const wanted: Record<string, RegExp> = {
      'Ingest rate': /cbgw_callbacks_total/,
      'Acks by outcome': /cbgw_callback_ack_duration_seconds_count/,
      'Delivery success and failure': /cbgw_deliveries_total/,
      'Delivery latency': /histogram_quantile\(0\.99, .*cbgw_delivery_end_to_end_seconds_bucket/,
      'Ack latency': /histogram_quantile\(0\.95, .*cbgw_callback_ack_duration_seconds_bucket/,
      'Queue depth': /cbgw_delivery_queue_jobs/,
      'Queue age': /cbgw_delivery_oldest_waiting_seconds/,
      'Dead letters': /cbgw_dead_letters/,
      'Breaker states': /cbgw_breaker_state/,
      'Overdue callbacks': /cbgw_registrations_overdue/,
      'Public URL and tunnel': /cbgw_tunnel_state[\s\S]*cbgw_webhook_url_changes_total/,
    };
    for (const [title, expr] of Object.entries(wanted)) expect(exprs(title), title).toMatch(expr);
  });

  it('queries the provisioned Prometheus data source in every panel', () => {
    const provisioned = readYaml(`${infraDir}grafana/provisioning/datasources/prometheus.yml`) as {
      datasources: { uid: string; type: string }[];
    };
    const uid = provisioned.datasources[0]?.uid;
    expect(uid).toBeTruthy();
    for (const panel of panels) {
      expect(panel.datasource?.uid, panel.title).toBe(uid);
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) {
        expect(target.datasource?.uid, panel.title).toBe(uid);
        expect(target.expr.trim(), panel.title).not.toBe('');
      }
    }
  });

  it('has unique panel ids and no overlapping panels on a 24-column grid', () => {
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const panel of dashboard.panels) {
      const { x, y, w, h } = panel.gridPos;
      expect(x + w, panel.title).toBeLessThanOrEqual(24);
      for (let row = y; row < y + h; row++) {
        for (let column = x; column < x + w; column++) {
          const cell = `${row}:${column}`;
          expect(cells.has(cell), `${panel.title} overlaps at ${cell}`).toBe(false);
          cells.add(cell);
        }
      }
    }
  });

  it('is loaded by the provisioning from the folder compose mounts', () => {
    const provider = readYaml(
      `${infraDir}grafana/provisioning/dashboards/callback-gateway.yml`,
    ) as {
      providers: { options: { path: string } }[];
    };
    const compose = readYaml(`${infraDir}compose.yaml`) as {
      services: { grafana: { volumes: string[] } };
    };
    expect(compose.services.grafana.volumes).toContain(
      `./grafana/dashboards:${provider.providers[0]?.options.path}:ro`,
    );
    expect(dashboard.uid).toBe('cbgw-overview');
  });
});
