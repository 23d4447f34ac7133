import { describe, expect, it } from 'vitest';
import { findBinary, run } from './support/binaries.js';
import {
  alertmanagerConfigFile,
  operatingDoc,
  prometheusConfigFile,
  readText,
  readYaml,
  rulesFile,
  rulesTestFile,
} from './support/paths.js';
import { durationSeconds, shippedAlerts } from './support/rules.js';

const promtool = findBinary(['promtool'], 'prometheus');

interface RuleTestFile {
  tests: {
    name: string;
    alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[];
  }[];
}

/** GitHub's anchor of a Markdown heading. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

describe('the shipped Prometheus rules', () => {
  const alerts = shippedAlerts();

  it('pass promtool check rules', () => {
    const result = run(promtool, ['check', 'rules', rulesFile]);
    expect(result.output).toContain(`SUCCESS: ${alerts.length} rules found`);
    expect(result.status).toBe(0);
  });

  it('pass their promtool unit tests (synthetic series, production for: durations)', () => {
    const result = run(promtool, ['test', 'rules', rulesTestFile]);
    expect(result.output).toContain('SUCCESS');
    expect(result.status, result.output).toBe(0);
  });

  it('cover every alert the on-call issue asks for', () => {
    expect(alerts.map((alert) => alert.alert).sort()).toEqual([
      'CbgwBreakerOpen',
      'CbgwCallbacksOverdue',
      'CbgwDeadLettersGrowing',
      'CbgwDeliveryFailureRatioHigh',
      'CbgwDeliveryQueueStale',
      'CbgwGatewayStorageUnavailable',
      'CbgwNoCallbacksWhileRegistrationsWaiting',
      'CbgwParseSubmissionWaitingForUrl',
      'CbgwProcessNotScraped',
      'CbgwPublicCallbackUrlUnavailable',
      'CbgwPublicUrlChanged',
      'CbgwRedisMemoryHeadroomLow',
      'CbgwTunnelDown',
    ]);
  });

  it('give every alert a severity, a summary, a production for: and a runbook in docs/operating.md', () => {
    const anchors = new Set(
      [...readText(operatingDoc).matchAll(/^#{2,4} (.+)$/gm)].map((match) =>
        anchorOf(match[1] ?? ''),
      ),
    );
    for (const alert of alerts) {
      expect(['critical', 'warning'], alert.alert).toContain(alert.labels?.['severity']);
      expect(alert.annotations?.['summary'], alert.alert).toBeTruthy();
      expect(durationSeconds(alert.for ?? '0s'), alert.alert).toBeGreaterThanOrEqual(60);
      const runbook = alert.annotations?.['runbook_url'] ?? '';
      expect(runbook, alert.alert).toBe(`docs/operating.md#${alert.alert.toLowerCase()}`);
      expect(
        anchors.has(alert.alert.toLowerCase()),
        `${alert.alert} has no section in docs/operating.md`,
      ).toBe(true);
    }
  });

  it('have a unit test where each alert fires and one where it stays quiet', () => {
    const file = readYaml(rulesTestFile) as RuleTestFile;
    const cases = file.tests.flatMap((test) => test.alert_rule_test ?? []);
    for (const alert of alerts) {
      const mine = cases.filter((test) => test.alertname === alert.alert);
      expect(
        mine.some((test) => (test.exp_alerts ?? []).length > 0),
        `${alert.alert} never fires`,
      ).toBe(true);
      expect(
        mine.some((test) => (test.exp_alerts ?? []).length === 0),
        `${alert.alert} is never quiet`,
      ).toBe(true);
    }
  });
});

describe('the shipped monitoring configuration', () => {
  it('is a valid Prometheus configuration that loads the rules', () => {
    const result = run(promtool, ['check', 'config', prometheusConfigFile]);
    expect(result.status, result.output).toBe(0);
    expect(result.output).toContain('callback-gateway.rules.yml');
  });

  it('scrapes the jobs the alerts expect (cbgw-gateway, cbgw-worker)', () => {
    const config = readYaml(prometheusConfigFile) as { scrape_configs: { job_name: string }[] };
    const jobs = config.scrape_configs.map((scrape) => scrape.job_name);
    expect(jobs).toEqual(expect.arrayContaining(['cbgw-gateway', 'cbgw-worker']));
  });

  it('is a valid Alertmanager configuration that pages on critical alerts', () => {
    const amtool = findBinary(['amtool'], 'prometheus-alertmanager');
    const result = run(amtool, ['check-config', alertmanagerConfigFile]);
    expect(result.status, result.output).toBe(0);
    const config = readYaml(alertmanagerConfigFile) as {
      route: { routes: { receiver: string; matchers: string[] }[] };
    };
    expect(config.route.routes).toContainEqual(
      expect.objectContaining({ receiver: 'oncall-page', matchers: ['severity="critical"'] }),
    );
  });
});
