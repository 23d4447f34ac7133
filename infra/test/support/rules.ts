import { readYaml, rulesFile } from './paths.js';

/** One alerting rule of the shipped rule file. */
export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface RuleFile {
  groups: { name: string; rules: AlertRule[] }[];
}

/** The alerting rules shipped in infra/prometheus/rules. */
export function shippedAlerts(): AlertRule[] {
  const file = readYaml(rulesFile) as RuleFile;
  return file.groups.flatMap((group) => group.rules).filter((rule) => rule.alert);
}

/** A Prometheus duration (`90s`, `10m`, `1h30m`) in seconds. */
export function durationSeconds(duration: string): number {
  const units: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };
  let total = 0;
  const rest = duration.replace(/(\d+)(ms|s|m|h|d|w)/g, (_, value: string, unit: string) => {
    total += Number(value) * (units[unit] ?? Number.NaN);
    return '';
  });
  if (rest !== '' || Number.isNaN(total)) throw new Error(`not a Prometheus duration: ${duration}`);
  return total;
}
