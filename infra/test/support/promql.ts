/** Words of PromQL that are not metric names. */
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'inf',
  'nan',
]);

/**
 * The metric names a PromQL expression (or a Grafana query with `$variables`) selects: every
 * identifier that is not a function call, a keyword, a label name inside `{...}` or a
 * grouping clause, a string, a number or a duration. Good enough for the expressions we write
 * (it is checked by its own tests), not a full parser.
 */
export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ') // strings
    .replace(/\$\{?\w+\}?/g, ' ') // Grafana variables such as $__rate_interval
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // range and subquery durations
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  const names = new Set<string>();
  for (const match of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = match[0];
    const next = stripped.slice((match.index ?? 0) + word.length).trimStart();
    if (next.startsWith('(')) continue; // a function
    if (KEYWORDS.has(word.toLowerCase())) continue;
    const before = stripped.slice(0, match.index ?? 0);
    if (/[0-9.]$/.test(before)) continue; // the unit of a number like 1e3 or a duration
    names.add(word);
  }
  return [...names].sort();
}

/**
 * Every series name a Prometheus text exposition announces: from its `# TYPE` lines, with
 * `_bucket`, `_sum` and `_count` for histograms and summaries (a labelled counter that was
 * never incremented has no sample, but it has its `# TYPE` line).
 */
export function exposedSeriesNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const match of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name = '', type] = match;
    names.add(name);
    if (type === 'histogram')
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) names.add(name + suffix);
  }
  return names;
}
