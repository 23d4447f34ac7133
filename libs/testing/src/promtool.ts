import { spawnSync } from 'node:child_process';

/**
 * Runs `promtool check metrics` on a Prometheus text exposition and returns what it printed
 * (empty when the metrics are clean). Throws when promtool is not installed: the Debian
 * `prometheus` package provides it (`.ci/run` installs it).
 */
export function promtoolCheckMetrics(exposition: string): string {
  const result = spawnSync('promtool', ['check', 'metrics'], {
    input: exposition,
    encoding: 'utf8',
  });
  if (result.error) {
    throw new Error(
      'promtool is missing: install the Debian "prometheus" package (apt-get install prometheus)',
    );
  }
  const output = `${result.stdout}${result.stderr}`.trim();
  return result.status === 0 ? output : output || `promtool exited with ${result.status}`;
}
