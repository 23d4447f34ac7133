import { readFileSync } from 'node:fs';

/** VmRSS and VmHWM (peak) of a process in MiB, or undefined once it is gone. */
export function readRss(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/** Samples the RSS of named processes every `everyMs` until `stop()`. */
export function sampleRss(pids, everyMs = 1_000) {
  const started = Date.now();
  const samples = Object.fromEntries(Object.keys(pids).map((name) => [name, []]));
  const peaks = Object.fromEntries(Object.keys(pids).map((name) => [name, 0]));
  const take = () => {
    const t = (Date.now() - started) / 1000;
    for (const [name, pid] of Object.entries(pids)) {
      const reading = pid ? readRss(pid) : undefined;
      if (!reading) continue;
      samples[name].push([t, reading.rssMiB]);
      peaks[name] = Math.max(peaks[name], reading.hwmMiB);
    }
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { samples, peaks };
    },
  };
}

/**
 * Growth of one RSS series after a warm-up share of the run: the mean of the last tenth minus
 * the mean of the first tenth after warm-up, and the least-squares slope in MiB per minute.
 */
export function growth(series, warmupShare = 0.2) {
  const end = series.at(-1)?.[0] ?? 0;
  const kept = series.filter(([t]) => t >= end * warmupShare);
  if (kept.length < 4) return { startMiB: NaN, endMiB: NaN, growthMiB: NaN, slopeMiBPerMin: NaN };
  const tenth = Math.max(1, Math.floor(kept.length / 10));
  const mean = (rows) => rows.reduce((sum, [, v]) => sum + v, 0) / rows.length;
  const startMiB = mean(kept.slice(0, tenth));
  const endMiB = mean(kept.slice(-tenth));
  const mt = kept.reduce((s, [t]) => s + t, 0) / kept.length;
  const mv = mean(kept);
  let num = 0;
  let den = 0;
  for (const [t, v] of kept) {
    num += (t - mt) * (v - mv);
    den += (t - mt) ** 2;
  }
  return { startMiB, endMiB, growthMiB: endMiB - startMiB, slopeMiBPerMin: (num / den) * 60 };
}
