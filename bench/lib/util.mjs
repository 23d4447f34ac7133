import { cpus, loadavg, totalmem } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';

export { delay };

/** Wall-clock milliseconds since the epoch with sub-millisecond precision, comparable across
 * processes on one machine (receipt - send time is taken in two processes). */
export const epochMs = () => performance.timeOrigin + performance.now();

/** Percentiles of a list of numbers (copied, then sorted). */
export function summarize(values) {
  const sorted = Float64Array.from(values).sort();
  const at = (q) =>
    sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN;
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    count: sorted.length,
    mean: sorted.length ? sum / sorted.length : NaN,
    p50: at(0.5),
    p90: at(0.9),
    p99: at(0.99),
    max: sorted.length ? sorted[sorted.length - 1] : NaN,
  };
}

export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** Polls `check()` until it holds; resolves false when `timeoutMs` passes first. */
export async function waitFor(check, timeoutMs, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await delay(everyMs);
  }
  return check();
}

/** What the figures were taken on. */
export function machine() {
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadavg: loadavg().map((value) => Number(value.toFixed(2))),
  };
}

/**
 * Cleanups run in reverse order, once, on normal end and on Ctrl-C: every process and server a
 * scenario starts registers its stop here right after it started.
 */
const cleanups = [];
export function onCleanup(fn) {
  cleanups.push(fn);
  return fn;
}
export async function cleanup() {
  while (cleanups.length) {
    const fn = cleanups.pop();
    try {
      await fn();
    } catch (error) {
      console.error(`cleanup failed: ${error?.message ?? error}`);
    }
  }
}
/** Runs `fn` and then every cleanup it registered (not the ones registered before). */
export async function scoped(fn) {
  const mark = cleanups.length;
  try {
    return await fn();
  } finally {
    while (cleanups.length > mark) {
      const stop = cleanups.pop();
      try {
        await stop();
      } catch (error) {
        console.error(`cleanup failed: ${error?.message ?? error}`);
      }
    }
  }
}

export const log = (message) => process.stderr.write(`[bench] ${message}\n`);
