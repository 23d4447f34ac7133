#!/usr/bin/env node
// `npm test`: every check CI makes (the commit messages since the convention; for every project
// format, lint with module boundaries, type-check, build, tests), then one closing line that adds
// up all the test reports: "Tests: N passed, N failed, N skipped".
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
// Each project's vitest run writes <project>/reports/vitest.json (Nx caches and restores it).
const reportFiles = () =>
  [
    ...['apps', 'libs', 'tools'].flatMap((group) =>
      existsSync(join(root, group))
        ? readdirSync(join(root, group)).map((name) => ({ name, dir: join(root, group, name) }))
        : [],
    ),
    { name: 'infra', dir: join(root, 'infra') },
  ]
    .map(({ name, dir }) => ({ name, file: join(dir, 'reports', 'vitest.json') }))
    .filter(({ file }) => existsSync(file));
const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };
let failed = false;

function run(title, command, args) {
  console.log(`\n== ${title}: ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { cwd: root, env, stdio: 'inherit' });
  if (result.status !== 0) {
    failed = true;
    console.log(`== ${title}: FAILED (exit ${result.status ?? result.signal})`);
  }
}

for (const { file } of reportFiles()) rmSync(file, { force: true });
run('commits', 'node', ['scripts/check-commits.mjs']);
run('format', 'npx', ['prettier', '--check', '.', '--log-level', 'warn']);
const nxArgs = [
  'nx',
  'run-many',
  '-t',
  'lint',
  'typecheck',
  'build',
  'test',
  '--outputStyle=stream',
];
if (process.env.CI) nxArgs.push('--skip-nx-cache');
run('lint, typecheck, build, test', 'npx', nxArgs);

const firstLine = (text) => (text ?? '').split('\n').find((line) => line.trim() !== '') ?? '';

let passed = 0;
let failedTests = 0;
let skipped = 0;
console.log('\n== test reports');
for (const { name, file } of reportFiles().sort((a, b) => a.name.localeCompare(b.name))) {
  const report = JSON.parse(readFileSync(file, 'utf8'));
  const pending = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  passed += report.numPassedTests;
  failedTests += report.numFailedTests;
  skipped += pending;
  if (report.numFailedTestSuites > 0 && report.numFailedTests === 0) {
    // A file that failed to load has no failed test of its own: count it as one.
    failedTests += report.numFailedTestSuites;
  }
  console.log(
    `  ${name.padEnd(14)} ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${pending} skipped (${report.testResults?.length ?? 0} files)`,
  );
  // Name what failed here too: CI logs are often read from their end.
  for (const file of report.testResults ?? []) {
    const where = file.name.startsWith(root) ? file.name.slice(root.length) : file.name;
    const failures = (file.assertionResults ?? []).filter((test) => test.status === 'failed');
    for (const test of failures) {
      console.log(`    failed: ${where} > ${test.fullName}`);
      console.log(`      ${firstLine(test.failureMessages?.[0])}`);
    }
    if (failures.length === 0 && file.status === 'failed') {
      console.log(`    failed: ${where} (did not run)`);
      console.log(`      ${firstLine(file.message)}`);
    }
  }
}
if (passed + failedTests === 0) {
  console.log('  no test report was written');
  failed = true;
}
console.log(`\nTests: ${passed} passed, ${failedTests} failed, ${skipped} skipped`);
process.exit(failed || failedTests > 0 ? 1 : 0);
