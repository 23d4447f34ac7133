import type { ScenarioResult } from './harness.js';

const COLUMNS = [
  'scenario',
  'load',
  'fault',
  'acknowledged',
  'delivered',
  'dead-lettered',
  'lost',
  '2xx-then-lost',
  'duplicates',
  '503s',
  'send errors',
] as const;

function row(result: ScenarioResult): string[] {
  const a = result.accounting;
  return [
    result.name,
    result.load,
    result.fault,
    String(a.acknowledged),
    String(a.delivered),
    String(a.deadLettered),
    String(a.lost),
    String(a.acknowledgedThenLost),
    String(a.duplicates),
    String(a.unavailable),
    String(a.errors),
  ];
}

/** The results as a Markdown table (what `docs/reliability.md` holds), one row per scenario. */
export function markdownTable(results: readonly ScenarioResult[]): string {
  const rows = [[...COLUMNS], ...results.map(row)];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((cells) => (cells[i] ?? '').length)));
  const line = (cells: string[]) =>
    `| ${cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const rule = `| ${widths.map((width) => '-'.repeat(width)).join(' | ')} |`;
  const [head = [], ...body] = rows;
  return [line(head), rule, ...body.map(line)].join('\n');
}

/** One line per scenario with what the table has no column for. */
export function observationLines(results: readonly ScenarioResult[]): string[] {
  return results.map((result) => {
    const extra = Object.entries(result.observations).map(([key, value]) => `${key}=${value}`);
    const stuck = Object.entries(result.unresolvedStates).map(([s, n]) => `${n} ${s}`);
    return `- ${result.name} (${Math.round(result.durationMs / 1000)} s): ${extra.join(', ')}${
      stuck.length ? `; unresolved: ${stuck.join(', ')}` : ''
    }`;
  });
}
