import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';

/** The infra project folder, with a trailing slash. */
export const infraDir = fileURLToPath(new URL('../../', import.meta.url));
/** The repository root, with a trailing slash. */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

export const rulesFile = `${infraDir}prometheus/rules/callback-gateway.rules.yml`;
export const rulesTestFile = `${infraDir}prometheus/tests/callback-gateway.test.yml`;
export const prometheusConfigFile = `${infraDir}prometheus/prometheus.yml`;
export const alertmanagerConfigFile = `${infraDir}alertmanager/alertmanager.yml`;
export const dashboardFile = `${infraDir}grafana/dashboards/callback-gateway.json`;
export const operatingDoc = `${repoRoot}docs/operating.md`;

export function readText(path: string): string {
  return readFileSync(path, 'utf8');
}

/** Parses one YAML document; throws on any YAML error. */
export function readYaml(path: string): unknown {
  return parse(readText(path), { prettyErrors: true, merge: true });
}

/** Parses every document of a multi-document YAML file; throws on any YAML error. */
export function readYamlDocuments(path: string): unknown[] {
  return parseAllDocuments(readText(path)).map((document) => {
    if (document.errors.length > 0) throw document.errors[0];
    return document.toJS() as unknown;
  });
}

/** The environment variables documented in the README's configuration table. */
export function documentedSettings(): Set<string> {
  const names = [...readText(`${repoRoot}README.md`).matchAll(/^\| `([A-Z][A-Z0-9_]+)`/gm)];
  return new Set(names.map((match) => match[1] ?? ''));
}
