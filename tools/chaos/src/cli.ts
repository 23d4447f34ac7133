// `npm run chaos [-- --short] [scenario ...]`: runs the scenarios (full sizes unless --short)
// one after another against the built gateway and worker, prints the zero-loss table, and exits
// non-zero if any acknowledged callback was lost.
import os from 'node:os';
import { markdownTable, observationLines } from './report.js';
import { SCENARIOS, type ScenarioResult } from './scenarios.js';

const args = process.argv.slice(2);
const size = args.includes('--short') ? 'short' : 'full';
const names = args.filter((arg) => !arg.startsWith('--'));
const unknown = names.filter((name) => !(name in SCENARIOS));
if (unknown.length) {
  console.error(
    `unknown scenario ${unknown.join(', ')}; known: ${Object.keys(SCENARIOS).join(', ')}`,
  );
  process.exit(2);
}
const selected = names.length ? names : Object.keys(SCENARIOS);
const results: ScenarioResult[] = [];
let failed = false;
for (const name of selected) {
  const scenario = SCENARIOS[name];
  if (!scenario) continue;
  console.log(`chaos: ${name} (${size}) ...`);
  try {
    const result = await scenario(size);
    results.push(result);
    console.log(
      `chaos: ${name}: lost ${result.accounting.lost} of ${result.accounting.acknowledged}`,
    );
    if (result.accounting.lost > 0 || result.accounting.acknowledgedThenLost > 0) failed = true;
  } catch (error) {
    failed = true;
    console.error(`chaos: ${name} failed: ${String(error)}`);
  }
}
const cores = os.cpus().length;
console.log(
  `\n${size} sizes, ${new Date().toISOString().slice(0, 10)}, ${cores} cores, Node ${process.version}\n`,
);
console.log(markdownTable(results));
console.log(`\n${observationLines(results).join('\n')}`);
process.exit(failed ? 1 : 0);
