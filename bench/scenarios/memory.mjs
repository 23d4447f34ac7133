import { figure } from '../lib/report.mjs';
import { growth } from '../lib/rss.mjs';
import { runPaced } from './e2e.mjs';

/**
 * Memory over a longer run at a steady rate: RSS of gateway and worker sampled every second;
 * growth is the mean of the last tenth minus the mean of the first tenth after the first 20 %
 * (start-up and JIT), with the least-squares slope in MiB per minute.
 */
export async function memory(settings) {
  const run = await runPaced(settings, settings.soakRate, settings.soakDuration, 'soak');
  const rows = [];
  const at = `${settings.soakRate}/s ${settings.soakDuration} s`;
  const result = {};
  for (const name of ['gateway', 'worker', 'redis']) {
    const g = growth(run.memory.samples[name] ?? []);
    result[name] = { ...g, peakMiB: run.memory.peaks[name] };
    if (name === 'redis') continue; // stored callbacks are meant to grow it
    rows.push(
      figure('memory', `${at}: RSS ${name} end vs start`, g.endMiB, 'MiB', {
        baseline: g.startMiB,
        baselineLabel: 'start',
        note: `slope ${g.slopeMiBPerMin.toFixed(2)} MiB/min, peak ${run.memory.peaks[name].toFixed(0)} MiB`,
      }),
    );
  }
  rows.push(
    figure('memory', `${at}: acked, not received`, run.lost, '', {
      note: `sent ${run.sent.sent}, received ${run.received.received}${run.drained ? '' : `, NOT drained in ${settings.e2eDrainTimeout} s: still queued or lost`}`,
    }),
  );
  return {
    rows,
    raw: {
      rate: settings.soakRate,
      durationS: settings.soakDuration,
      growth: result,
      samples: run.memory.samples,
      sent: run.sent,
      lost: run.lost,
    },
  };
}
