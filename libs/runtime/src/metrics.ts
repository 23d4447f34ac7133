import { Registry, collectDefaultMetrics } from 'prom-client';

/**
 * A prom-client registry with Node's default process metrics, minus the gauges whose names end
 * in `_total` (`nodejs_active_handles_total`, ...): Prometheus reserves that suffix for
 * counters and `promtool check metrics` rejects them. Their per-type siblings
 * (`nodejs_active_handles{type}`) carry the same information.
 */
export function createMetricsRegistry(defaultLabels: Record<string, string> = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels(defaultLabels);
  collectDefaultMetrics({ register: registry });
  for (const metric of registry.getMetricsAsArray()) {
    const { name } = metric as unknown as { name: string };
    if (name.endsWith('_total') && metric.constructor.name === 'Gauge') {
      registry.removeSingleMetric(name);
    }
  }
  return registry;
}
