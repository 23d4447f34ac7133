import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForHttp } from '@callback-gateway/testing';
import { stringify } from 'yaml';
import { findBinary, startDaemon, type Daemon } from './binaries.js';
import {
  alertmanagerConfigFile,
  prometheusConfigFile,
  readText,
  readYaml,
  rulesFile,
} from './paths.js';

/** A real Prometheus and Alertmanager on loopback, with their own configs and storage. */
export interface Monitoring {
  prometheusUrl: string;
  alertmanagerUrl: string;
  stop(): Promise<void>;
}

interface PrometheusConfig {
  global?: Record<string, unknown>;
  rule_files?: string[];
  alerting?: unknown;
  scrape_configs: { job_name: string; static_configs?: { targets: string[] }[] }[];
}

interface AlertmanagerConfig {
  route: Record<string, unknown>;
  receivers: { name: string; webhook_configs?: unknown[] }[];
}

/**
 * Starts Alertmanager and Prometheus from the shipped configuration, adapted for a test: every
 * address on 127.0.0.1, 1 s scrape and evaluation intervals, the shipped rules with their
 * `for:` durations set to 0s, short Alertmanager grouping, and every receiver posting to
 * `webhookUrl`. `targets` maps a scrape job name to its `host:port`.
 */
export async function startMonitoring(options: {
  targets: Record<string, string>;
  webhookUrl: string;
}): Promise<Monitoring> {
  const prometheusBinary = findBinary(['prometheus'], 'prometheus');
  const alertmanagerBinary = findBinary(
    ['alertmanager', 'prometheus-alertmanager'],
    'prometheus-alertmanager',
  );
  const dir = await mkdtemp(join(tmpdir(), 'cbgw-monitoring-'));
  const daemons: Daemon[] = [];
  const stop = async () => {
    for (const daemon of daemons.reverse()) await daemon.stop();
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const alertmanagerPort = await freePort();
    const alertmanager = readYaml(alertmanagerConfigFile) as AlertmanagerConfig;
    alertmanager.route = {
      ...alertmanager.route,
      group_wait: '1s',
      group_interval: '1s',
      repeat_interval: '1m',
    };
    for (const receiver of alertmanager.receivers) {
      receiver.webhook_configs = [{ url: options.webhookUrl, send_resolved: false }];
    }
    await writeFile(join(dir, 'alertmanager.yml'), stringify(alertmanager));
    const alertmanagerUrl = `http://127.0.0.1:${alertmanagerPort}`;
    const amDaemon = startDaemon(alertmanagerBinary, [
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${join(dir, 'alertmanager-data')}`,
      `--web.listen-address=127.0.0.1:${alertmanagerPort}`,
      '--cluster.listen-address=', // no gossip port: a single instance
      '--log.level=warn',
    ]);
    daemons.push(amDaemon);
    await waitFor(`${alertmanagerUrl}/-/ready`, amDaemon);

    const rules = readText(rulesFile).replace(/^(\s+)for: .+$/gm, '$1for: 0s');
    await writeFile(join(dir, 'rules.yml'), rules);
    const prometheusPort = await freePort();
    const prometheus = readYaml(prometheusConfigFile) as PrometheusConfig;
    prometheus.global = { ...prometheus.global, scrape_interval: '1s', evaluation_interval: '1s' };
    prometheus.rule_files = [join(dir, 'rules.yml')];
    prometheus.alerting = {
      alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${alertmanagerPort}`] }] }],
    };
    prometheus.scrape_configs = prometheus.scrape_configs
      .filter((scrape) => options.targets[scrape.job_name])
      .map((scrape) => ({
        ...scrape,
        static_configs: [{ targets: [options.targets[scrape.job_name] ?? ''] }],
      }));
    await writeFile(join(dir, 'prometheus.yml'), stringify(prometheus));
    const prometheusUrl = `http://127.0.0.1:${prometheusPort}`;
    const promDaemon = startDaemon(prometheusBinary, [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'prometheus-data')}`,
      `--web.listen-address=127.0.0.1:${prometheusPort}`,
      '--log.level=warn',
    ]);
    daemons.push(promDaemon);
    await waitFor(`${prometheusUrl}/-/ready`, promDaemon);
    return { prometheusUrl, alertmanagerUrl, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function waitFor(url: string, daemon: Daemon): Promise<void> {
  try {
    await waitForHttp(url, (status) => status === 200, 20_000);
  } catch (error) {
    throw new Error(`${String(error)}\n${daemon.output()}`);
  }
}

/** Runs an instant query; resolves the result vector. */
export async function query(
  prometheusUrl: string,
  promql: string,
): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await response.json()) as {
    data: { result: { metric: Record<string, string>; value: [number, string] }[] };
  };
  return body.data.result;
}
