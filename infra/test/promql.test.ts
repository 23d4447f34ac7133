import { describe, expect, it } from 'vitest';
import { exposedSeriesNames, metricNamesIn } from './support/promql.js';

describe('metricNamesIn', () => {
  it('finds the metrics of an alert expression and skips functions, keywords and labels', () => {
    const expr = `(
      sum(rate(cbgw_delivery_attempts_total{result!="2xx"}[10m])) / sum by (job) (rate(cbgw_x_total[5m] offset 5m))
    ) > 0.25 and on() sum(increase(cbgw_y_total[10m])) >= 1e3 unless absent(up{job="cbgw-worker"})`;
    expect(metricNamesIn(expr)).toEqual([
      'cbgw_delivery_attempts_total',
      'cbgw_x_total',
      'cbgw_y_total',
      'up',
    ]);
  });

  it('ignores Grafana variables and histogram_quantile arguments', () => {
    expect(
      metricNamesIn(
        'histogram_quantile(0.99, sum by (le) (rate(cbgw_ack_seconds_bucket[$__rate_interval])))',
      ),
    ).toEqual(['cbgw_ack_seconds_bucket']);
  });

  it('sees a bare metric name', () => {
    expect(metricNamesIn('max(cbgw_dead_letters) > 0')).toEqual(['cbgw_dead_letters']);
  });
});

describe('exposedSeriesNames', () => {
  it('expands histograms and keeps counters without samples', () => {
    const names = exposedSeriesNames(
      ['# TYPE a_seconds histogram', '# TYPE b_total counter', '# HELP c gauge', 'c 1'].join('\n'),
    );
    expect([...names].sort()).toEqual([
      'a_seconds',
      'a_seconds_bucket',
      'a_seconds_count',
      'a_seconds_sum',
      'b_total',
    ]);
  });
});
