#!/usr/bin/env node
// `npm test`: every check CI makes, for every project (format, lint with module boundaries,
// type-check, build, tests), then one closing line that adds up all the test reports:
// "Tests: N passed, N failed, N skipped".
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const reports = join(root, 'reports', 'test');
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

rmSync(reports, { recursive: true, force: true });
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

let passed = 0;
let failedTests = 0;
let skipped = 0;
console.log('\n== test reports');
for (const file of existsSync(reports) ? readdirSync(reports).sort() : []) {
  const report = JSON.parse(readFileSync(join(reports, file), 'utf8'));
  const pending = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  passed += report.numPassedTests;
  failedTests += report.numFailedTests;
  skipped += pending;
  if (report.numFailedTestSuites > 0 && report.numFailedTests === 0) {
    // A file that failed to load has no failed test of its own: count it as one.
    failedTests += report.numFailedTestSuites;
  }
  console.log(
    `  ${file.replace(/\.json$/, '').padEnd(14)} ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${pending} skipped (${report.numTotalTestSuites} files)`,
  );
}
if (passed + failedTests === 0) {
  console.log('  no test report was written');
  failed = true;
}
console.log(`\nTests: ${passed} passed, ${failedTests} failed, ${skipped} skipped`);
process.exit(failed || failedTests > 0 ? 1 : 0);
