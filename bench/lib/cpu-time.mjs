import { readFileSync } from 'node:fs';

// Linux reports process times in clock ticks; 100 per second on every mainstream kernel config.
const TICKS_PER_SECOND = 100;

/** User + system CPU seconds a process (all its threads) has used, or undefined once gone. */
export function readCpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: fields are counted after its closing paren.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/**
 * CPU used by named processes between `start()` and `stop()`: seconds each, and the share of
 * one core. Which process spends the CPU tells where a figure is lost on a machine whose cores
 * all processes share.
 */
export function cpuMeter(pids) {
  const begin = Object.fromEntries(
    Object.entries(pids).map(([name, pid]) => [name, pid ? readCpuSeconds(pid) : undefined]),
  );
  const startedAt = performance.now();
  return {
    stop() {
      const wall = (performance.now() - startedAt) / 1000;
      const used = {};
      for (const [name, pid] of Object.entries(pids)) {
        const end = pid ? readCpuSeconds(pid) : undefined;
        if (end === undefined || begin[name] === undefined) continue;
        used[name] = { seconds: end - begin[name], cores: (end - begin[name]) / wall };
      }
      return { wallSeconds: wall, used };
    },
  };
}

/** Microseconds of CPU per item, per process: `{ gateway: 61.2, redis: 14.8, ... }`. */
export function cpuPerItem(measured, items) {
  if (!items) return {};
  return Object.fromEntries(
    Object.entries(measured.used).map(([name, { seconds }]) => [
      name,
      Number(((seconds * 1e6) / items).toFixed(1)),
    ]),
  );
}
