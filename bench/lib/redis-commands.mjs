import { Redis } from 'ioredis';

/**
 * Redis's own account of the commands it ran (`INFO commandstats`: calls, and microseconds spent
 * inside each command), so the Redis share of a figure can be split the way a CPU profile splits
 * a Node process. The microseconds are elapsed time, not CPU time: on cores shared with the
 * apps, a command descheduled midway counts the wait too. A script's `evalsha` time includes the
 * commands the script runs, which are also counted under their own names.
 */
export async function commandStats(url) {
  // No CLIENT SETINFO on connect: the snapshots' own commands stay out of the counts.
  const redis = new Redis(url, {
    maxRetriesPerRequest: 1,
    lazyConnect: true,
    disableClientInfo: true,
  });
  try {
    await redis.connect();
    const stats = new Map();
    for (const line of (await redis.info('commandstats')).split('\n')) {
      const match = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line.trim());
      if (match) stats.set(match[1], { calls: Number(match[2]), usec: Number(match[3]) });
    }
    return stats;
  } finally {
    redis.disconnect();
  }
}

/** Adds what happened between two {@link commandStats} snapshots to `total` (a Map). */
export function addCommandDelta(total, before, after) {
  for (const [command, { calls, usec }] of after) {
    const earlier = before.get(command) ?? { calls: 0, usec: 0 };
    const sum = total.get(command) ?? { calls: 0, usec: 0 };
    sum.calls += calls - earlier.calls;
    sum.usec += usec - earlier.usec;
    total.set(command, sum);
  }
  return total;
}

/** Calls and microseconds per item of each command, the costliest first. */
export function commandsPerItem(total, items) {
  return [...total]
    .filter(([command, { calls }]) => calls > 0 && command !== 'info')
    .map(([command, { calls, usec }]) => ({
      command,
      callsPerItem: Math.round((calls / items) * 100) / 100,
      usPerItem: Math.round((usec / items) * 100) / 100,
    }))
    .sort((a, b) => b.usPerItem - a.usPerItem);
}

/** {@link commandsPerItem}'s rows as text, under a title. */
export function commandsText(rows, title, count = 14) {
  const lines = [
    title,
    `  ${'µs'.padStart(6)}  ${'calls'.padStart(6)}  command (per item; µs elapsed inside the command; evalsha includes its scripts' commands)`,
  ];
  for (const row of rows.slice(0, count)) {
    lines.push(
      `  ${row.usPerItem.toFixed(1).padStart(6)}  ${row.callsPerItem.toFixed(2).padStart(6)}  ${row.command}`,
    );
  }
  return lines.join('\n');
}
