// The local pipeline the worker delivers to: answers 200 at once, counts distinct deliveries
// (by `webhook-id`) and, in `latency` mode, takes receipt time - the parser's `sent_at` from the
// delivered payload. It does not verify signatures: that is the pipeline's cost, the same for
// every sender, and the e2e tests check it.
import { createServer } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { serve } from './ipc.mjs';
import { epochMs, summarize } from './util.mjs';

let mode = 'count';
let seen = new Set();
let duplicates = 0;
let firstAt = 0;
let lastAt = 0;
let records = [];
let latencies = [];
let deliveryLatencies = [];
let warmReceived = 0;
let times = [];

const server = createServer((request, response) => {
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    const at = epochMs();
    response.writeHead(200).end();
    const id = request.headers['webhook-id'] ?? `${request.url}#${seen.size}`;
    if (seen.has(id)) {
      duplicates++;
      return;
    }
    seen.add(id);
    if (!firstAt) firstAt = at;
    lastAt = at;
    times.push(at);
    if (mode === 'record') {
      const {
        'webhook-id': wid,
        'webhook-timestamp': ts,
        'webhook-signature': sig,
      } = request.headers;
      records.push({
        path: request.url,
        headers: {
          'content-type': 'application/json',
          'webhook-id': wid,
          'webhook-timestamp': ts,
          'webhook-signature': sig,
        },
        body: Buffer.concat(chunks).toString('utf8'),
      });
    } else if (mode === 'latency') {
      const delivered = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const data = delivered.payload?.data;
      if (data?.phase === 'measure') {
        latencies.push(at - data.sent_at);
        // From the gateway's receipt (millisecond precision) on: the delivery side alone.
        const received = Date.parse(delivered.received_at);
        if (!Number.isNaN(received)) deliveryLatencies.push(at - received);
      } else warmReceived++;
    }
  });
});
server.keepAliveTimeout = 60_000;
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

serve({
  port: () => server.address().port,
  reset({ mode: next = 'count' }) {
    mode = next;
    seen = new Set();
    duplicates = 0;
    firstAt = lastAt = 0;
    records = [];
    latencies = [];
    deliveryLatencies = [];
    warmReceived = 0;
    times = [];
  },
  // `at`: receipt times of the k-th distinct deliveries (1-based), for steady-state rates.
  stats: ({ withLatency = false, at = [] } = {}) => ({
    timesAt: at.map((k) => times[k - 1]),
    received: seen.size,
    duplicates,
    firstAt,
    lastAt,
    warmReceived,
    measuredReceived: latencies.length,
    ...(withLatency && {
      latency: summarize(latencies),
      deliveryLatency: summarize(deliveryLatencies),
    }),
  }),
  async dump({ file }) {
    await writeFile(file, records.map((record) => JSON.stringify(record)).join('\n'));
    return records.length;
  },
});
