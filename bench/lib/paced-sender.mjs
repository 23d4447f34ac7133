// The end-to-end load: an open-loop sender. Request i is due at start + i / rate and goes out
// then whatever earlier requests are still waiting for their answer, so a stalled gateway
// cannot slow the sender down and hide its own latency (coordinated omission, which a
// closed-loop generator such as autocannon with `overallRate` has). Each body carries its
// actual send time (`sent_at`); the pipeline takes receipt - sent_at. How late the sender
// itself was against the schedule is reported, so a sender that could not keep up shows.
import { Pool } from 'undici';
import { envelopeBody } from './bodies.mjs';
import { serve } from './ipc.mjs';
import { delay, epochMs, summarize } from './util.mjs';

serve({
  async run({ baseUrl, paths, rate, warmupS, durationS, bytes, idPrefix, maxConnections }) {
    const pool = new Pool(baseUrl, { connections: maxConnections, keepAliveTimeout: 60_000 });
    const total = Math.round(rate * (warmupS + durationS));
    const warm = Math.round(rate * warmupS);
    const counts = { sent: 0, accepted: 0, warmAccepted: 0, rejected: 0, errors: 0 };
    const statusCodes = {};
    const ackLatencies = [];
    const lateness = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const inflight = new Set();

    const send = async (i, due) => {
      const phase = i < warm ? 'warm' : 'measure';
      const sentAt = epochMs();
      if (phase === 'measure') lateness.push(sentAt - due);
      const body = envelopeBody(`${idPrefix}-${i}`, bytes, sentAt, phase);
      counts.sent++;
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      try {
        const response = await pool.request({
          method: 'POST',
          path: paths[i % paths.length],
          headers: {
            'content-type': 'application/json',
            'user-agent': 'llamaindex-webhook-service/1.0',
          },
          body,
        });
        await response.body.dump();
        statusCodes[response.statusCode] = (statusCodes[response.statusCode] ?? 0) + 1;
        if (response.statusCode === 202) {
          if (phase === 'measure') {
            counts.accepted++;
            ackLatencies.push(epochMs() - sentAt);
          } else counts.warmAccepted++;
        } else counts.rejected++;
      } catch {
        counts.errors++;
      } finally {
        inFlight--;
      }
    };

    const start = epochMs() + 50;
    let i = 0;
    while (i < total) {
      const now = epochMs();
      // Everything due by now goes out now; then sleep about a millisecond.
      while (i < total && start + (i * 1000) / rate <= now) {
        const promise = send(i, start + (i * 1000) / rate);
        inflight.add(promise);
        void promise.finally(() => inflight.delete(promise));
        i++;
      }
      await delay(1);
    }
    const sendSeconds = (epochMs() - start) / 1000;
    await Promise.all(inflight);
    await pool.close();
    return {
      ...counts,
      warm,
      measured: total - warm,
      sendSeconds,
      statusCodes,
      maxInFlight,
      ackLatencyMs: summarize(ackLatencies),
      senderLatenessMs: summarize(lateness),
    };
  },
});
