// The delivery baseline: a raw undici loop posting recorded deliveries (same paths, headers and
// bodies) to the same pipeline server, with as many requests in flight as the worker.
import { readFile } from 'node:fs/promises';
import { Agent, request } from 'undici';
import { serve } from './ipc.mjs';

serve({
  async run({ file, baseUrl, concurrency }) {
    const records = (await readFile(file, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line));
    const dispatcher = new Agent({ keepAliveTimeout: 60_000 });
    let next = 0;
    let failed = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < records.length) {
          const record = records[next++];
          const response = await request(`${baseUrl}${record.path}`, {
            method: 'POST',
            headers: record.headers,
            body: record.body,
            dispatcher,
          });
          await response.body.dump();
          if (response.statusCode >= 300) failed++;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    await dispatcher.close();
    return { sent: records.length, failed, seconds };
  },
});
