import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * One line of the results table. `ratio` is value / baseline, both from the same run.
 * `goal` is `{ text, met }` when the issue sets one.
 */
export function figure(scenario, name, value, unit, { baseline, baselineLabel, goal, note } = {}) {
  const ratio =
    baseline === undefined || !Number.isFinite(baseline) || baseline === 0
      ? undefined
      : value / baseline;
  return { scenario, name, value, unit, baseline, baselineLabel, ratio, goal, note };
}

const fmt = (value) => {
  if (value === undefined) return '';
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value) || Math.abs(value) >= 100)
    return Math.round(value).toLocaleString('en-US');
  if (Math.abs(value) >= 10) return value.toFixed(1);
  if (value !== 0 && Math.abs(value) < 0.1) return value.toPrecision(2);
  return value.toFixed(2);
};

function columns(rows) {
  return rows.map((row) => [
    row.scenario,
    row.name,
    `${fmt(row.value)} ${row.unit}`,
    row.baseline === undefined ? '' : `${fmt(row.baseline)} ${row.unit} (${row.baselineLabel})`,
    row.ratio === undefined ? '' : `${row.ratio.toFixed(2)}×`,
    row.goal ? `${row.goal.text} ${row.goal.met ? 'met' : 'NOT met'}` : '',
    row.note ?? '',
  ]);
}

const HEAD = ['scenario', 'figure', 'measured', 'baseline (same run)', 'ratio', 'goal', 'note'];

/** The table for a terminal. */
export function textTable(rows) {
  const cells = [HEAD, ...columns(rows)];
  const widths = HEAD.map((_, i) => Math.max(...cells.map((line) => line[i].length)));
  return cells
    .map((line) =>
      line
        .map((cell, i) => cell.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The same table as Markdown (for bench/README.md). */
export function markdownTable(rows) {
  const lines = [HEAD, HEAD.map(() => '---'), ...columns(rows)];
  return lines.map((line) => `| ${line.join(' | ')} |`).join('\n');
}

export async function writeResults(file, results) {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
}

/** The gateway's CPU profile summary (see lib/cpuprofile.mjs) as text. */
export function profileText(
  profile,
  title = 'Gateway CPU profile under the 2 KB ingest load (a separate, profiled run):',
) {
  const lines = [title];
  const list = (title, rows, count) => {
    lines.push(`  ${title}:`);
    for (const row of rows.slice(0, count))
      lines.push(`  ${String(row.share).padStart(6)} %  ${row.name}`);
  };
  list(
    'self time by package (Node core and native time charged to its caller)',
    profile.areasWithCallees,
    12,
  );
  list('top functions by self time', profile.functions, 15);
  list("this repo's functions by inclusive time", profile.ownInclusive, 12);
  return lines.join('\n');
}
