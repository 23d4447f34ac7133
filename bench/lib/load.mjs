// The load generator for the ingest figures (and the delivery pre-fill): autocannon, in a
// process of its own, with a unique body per request. Latency is kept per response in
// fractional milliseconds (autocannon's own histogram rounds to whole milliseconds).
import autocannon from 'autocannon';
import { envelopeBody, legacyBody } from './bodies.mjs';
import { serve } from './ipc.mjs';
import { summarize } from './util.mjs';

serve({
  async run({ baseUrl, paths, kind, bytes, connections, durationS, amount, idPrefix }) {
    let seq = 0;
    const legacy = kind === 'legacy' ? legacyBody(bytes) : undefined;
    const setupRequest = (request) => {
      const i = seq++;
      // Legacy bodies are final: one registration (path) each. Envelopes share registrations.
      const path = paths[i % paths.length];
      const body = legacy ?? envelopeBody(`${idPrefix}-${i}`, bytes);
      return { ...request, path, body };
    };
    const latencies = [];
    const statusCodes = {};
    const instance = autocannon({
      url: baseUrl,
      connections,
      ...(amount ? { amount } : { duration: durationS }),
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'llamaindex-webhook-service/1.0',
      },
      requests: [{ method: 'POST', setupRequest }],
      timeout: 30,
    });
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1;
      if (statusCode === 202) latencies.push(responseTime);
    });
    const result = await instance;
    const accepted = statusCodes[202] ?? 0;
    return {
      seconds: result.duration,
      requests: result.requests.total,
      accepted,
      acceptedPerSec: accepted / result.duration,
      statusCodes,
      errors: result.errors,
      timeouts: result.timeouts,
      latencyMs: summarize(latencies),
    };
  },
});
