import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/**
 * Which cores the load generator and the measured servers may use. Keeping the generator off
 * the servers' cores only makes sense with cores to spare: with 4 or more, the last core goes to
 * the generator and the rest to the servers; with fewer, nothing is pinned (all share every
 * core, which the results say). `BENCH_LOADGEN_CPUS` / `BENCH_SERVER_CPUS` (taskset lists, e.g.
 * `3` and `0-2`) override.
 */
export function cpuPlan() {
  const count = cpus().length;
  const hasTaskset = spawnSync('taskset', ['--version']).status === 0;
  const loadgen = process.env['BENCH_LOADGEN_CPUS'] ?? (count >= 4 ? String(count - 1) : '');
  const servers = process.env['BENCH_SERVER_CPUS'] ?? (count >= 4 ? `0-${count - 2}` : '');
  if (!hasTaskset || (!loadgen && !servers)) {
    return { pinned: false, loadgen: '', servers: '', note: `not pinned (${count} cores)` };
  }
  return {
    pinned: true,
    loadgen,
    servers,
    note: `load generator on ${loadgen}, servers on ${servers}`,
  };
}

/** Pins a running process and all its threads to `list` (no-op without a list). */
export function pin(pid, list) {
  if (!list || !pid) return;
  spawnSync('taskset', ['-a', '-p', '-c', list, String(pid)], { stdio: 'ignore' });
}

/** The pid of the redis-server listening on `port`, from /proc. */
export function redisPid(port) {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (
        cmdline.startsWith('redis-server') &&
        (cmdline.includes(`:${port}`) || cmdline.includes(`--port\0${port}\0`))
      )
        return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}
