#!/usr/bin/env node
// `node scripts/with-parent.mjs <command> [args...]`, started with an IPC channel: runs a
// command that cannot watch its parent itself (redis-server for `npm start`) and stops it
// (SIGTERM) once that channel closes, however the parent went (SIGHUP, SIGKILL, a crash).
// SIGTERM, SIGINT and SIGHUP to this process stop the command as well; it exits with the
// command's code.
import { spawn } from 'node:child_process';

const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('with-parent: usage: node scripts/with-parent.mjs <command> [args...]');
  process.exit(2);
}
const child = spawn(command, args, { stdio: 'inherit' });
const stop = () => child.kill('SIGTERM');
process.once('disconnect', stop);
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(signal, stop);
child.once('error', (error) => {
  console.error(`with-parent: could not run ${command}: ${error.message}`);
  process.exit(1);
});
child.once('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
