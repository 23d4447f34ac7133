import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { until, useE2eWorld } from './stack.js';

const MiB = 1024 * 1024;
const INFLIGHT_LIMIT = 20 * MiB;
const JSON_HEADERS = { 'content-type': 'application/json' };

/**
 * A sender on a raw socket: the request's headers, then its body as fast as the gateway reads
 * it, holding back the last `holdBack` bytes (a sender that never finishes) until `finish()`.
 * `chunked` sends the body without a declared length.
 */
function rawSender(
  gatewayUrl: string,
  path: string,
  body: Buffer,
  options: { holdBack: number; chunked?: boolean },
) {
  const sent = { written: 0, answer: '', closed: false };
  const socket = connect({ host: '127.0.0.1', port: Number(new URL(gatewayUrl).port) });
  socket.on('data', (chunk: Buffer) => (sent.answer += chunk.toString('latin1')));
  // The gateway may close before the body is in: a reset or a broken pipe is an expected end.
  socket.on('error', () => undefined);
  socket.on('close', () => (sent.closed = true));
  let wire = body;
  if (options.chunked) {
    const frames: Buffer[] = [];
    for (let at = 0; at < body.length; at += 64 * 1024) {
      const chunk = body.subarray(at, at + 64 * 1024);
      frames.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n'));
    }
    wire = Buffer.concat([...frames, Buffer.from('0\r\n\r\n')]);
  }
  const length = options.chunked
    ? 'transfer-encoding: chunked'
    : `content-length: ${String(body.length)}`;
  socket.write(
    `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n${length}\r\n\r\n`,
  );
  const end = wire.length - options.holdBack;
  const pump = () => {
    while (sent.written < end && socket.writable) {
      const chunk = wire.subarray(sent.written, Math.min(end, sent.written + 64 * 1024));
      sent.written += chunk.length;
      if (!socket.write(chunk)) {
        socket.once('drain', pump);
        return;
      }
    }
  };
  pump();
  return {
    sent,
    /** True once all but the held-back bytes are written, or the connection ended. */
    settled: () => sent.closed || sent.written >= end,
    /** Sends the held-back bytes: the request is complete. */
    finish: () => socket.write(wire.subarray(end)),
    /** The answer's status code, once it arrived (0 when the connection ended without one). */
    async status() {
      await until(() => /^HTTP\/1\.1 \d{3}/.test(sent.answer) || sent.closed, 20_000);
      return Number(/^HTTP\/1\.1 (\d{3})/.exec(sent.answer)?.[1] ?? 0);
    },
    abort: () => socket.destroy(),
  };
}

/** A JSON event envelope of exactly `size` bytes. */
function envelopeOfSize(eventId: string, size: number): Buffer {
  const head = `{"event_id":"${eventId}","event_type":"parse.running","pad":"`;
  const tail = '"}';
  return Buffer.from(head + 'x'.repeat(size - head.length - tail.length) + tail);
}

describe('callback intake under hostile and heavy senders, end to end', () => {
  const world = useE2eWorld({ env: { GATEWAY_CALLBACK_INFLIGHT_BYTES: String(INFLIGHT_LIMIT) } });

  /** The value on the gateway's /metrics of `name` with these labels among its own (0 when it
   * has no such sample yet). */
  const metric = async (name: string, labels: Record<string, string> = {}): Promise<number> => {
    const text = await (await fetch(`${world.stack.gatewayUrl}/metrics`)).text();
    const wanted = Object.entries(labels).map(([label, value]) => `${label}="${value}"`);
    const line = text
      .split('\n')
      .find(
        (entry) =>
          (entry.startsWith(`${name}{`) || entry.startsWith(`${name} `)) &&
          wanted.every((pair) => entry.includes(pair)),
      );
    return Number(line?.split(' ').at(-1) ?? 0);
  };
  const held = () => metric('cbgw_callback_inflight_bytes');
  const refusals = (reason: string) => metric('cbgw_callback_rejections_total', { reason });
  const post = (path: string, body: Buffer | ReadableStream) =>
    fetch(`${world.stack.gatewayUrl}${path}`, {
      method: 'POST',
      headers: JSON_HEADERS,
      body,
      ...(body instanceof ReadableStream && { duplex: 'half' }),
    } as RequestInit);

  it('answers unknown tokens before reading their bodies: 30 senders holding 9 MiB each leave its memory flat', async () => {
    const gateway = world.stack.gateway;
    const notFoundBefore = await refusals('not_found');
    const samples: number[] = [];
    const sample = () => samples.push(gateway.rssBytes() ?? Number.NaN);
    for (let i = 0; i < 5; i++) {
      sample();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const baseline = Math.max(...samples);
    samples.length = 0;
    const sampler = setInterval(sample, 50);
    const body = Buffer.alloc(9 * MiB, 0x20);
    const senders = Array.from({ length: 30 }, (_, i) =>
      rawSender(world.stack.gatewayUrl, `/v1/callbacks/llamaparse/${'A'.repeat(41)}${i}`, body, {
        holdBack: 1,
      }),
    );
    try {
      // Until every sender wrote all it could (or was cut off), then held on for a while.
      await until(() => senders.every((sender) => sender.settled()), 40_000);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
    } finally {
      clearInterval(sampler);
    }
    // Each was answered 404 and its connection closed (a sender still writing may see the
    // close as a reset before it reads the answer).
    const closed = senders.filter((sender) => sender.sent.closed).length;
    const answered = (await refusals('not_found')) - notFoundBefore;
    for (const sender of senders) sender.abort();
    const grewBy = Math.max(...samples) - baseline;
    const taken = senders.reduce((sum, sender) => sum + sender.sent.written, 0);
    const figures = `RSS ${(baseline / MiB).toFixed(0)} MiB before, at most +${(grewBy / MiB).toFixed(0)} MiB during the flood; the senders got ${(taken / MiB).toFixed(0)} MiB of body out`;
    expect(grewBy, figures).toBeLessThan(100 * MiB);
    expect(answered).toBe(30);
    expect(closed).toBe(30);
    expect(await held()).toBe(0);
    // A sender that reads its answer gets the 404.
    const polite = await post(`/v1/callbacks/llamaparse/${'B'.repeat(43)}`, Buffer.from('{}'));
    expect(polite.status).toBe(404);
    expect(((await polite.json()) as { error: string }).error).toBe('not_found');
  });

  it('holds at most GATEWAY_CALLBACK_INFLIGHT_BYTES of bodies: the next gets 503 with Retry-After and is taken on retry', async () => {
    const registration = await world.register('/inflight');
    const path = new URL(registration.callbackUrl).pathname;
    const size = 8 * MiB;
    // Two senders hold 16 MiB of the 20 MiB, their last byte held back.
    const slow = [0, 1].map((i) =>
      rawSender(world.stack.gatewayUrl, path, envelopeOfSize(`held-${i}`, size), { holdBack: 1 }),
    );
    await until(() => slow.every((sender) => sender.settled()));
    await until(async () => (await held()) === 2 * size);

    const third = envelopeOfSize('third', size);
    const refused = await post(path, third);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as { error: string }).error).toBe('intake_busy');
    expect(await refusals('intake_busy')).toBeGreaterThan(0);
    expect(await metric('cbgw_callback_inflight_limit_bytes')).toBe(INFLIGHT_LIMIT);
    expect(world.stack.output().some((line) => line.includes('callback intake full'))).toBe(true);

    // A body without a declared length is held as it arrives: this one passes the bound
    // halfway, is refused, and its connection closed.
    const busyBefore = await refusals('intake_busy');
    const chunked = rawSender(world.stack.gatewayUrl, path, envelopeOfSize('chunked', size), {
      holdBack: 0,
      chunked: true,
    });
    await until(() => chunked.sent.closed);
    expect(await refusals('intake_busy')).toBe(busyBefore + 1);
    await until(async () => (await held()) === 2 * size);

    for (const sender of slow) sender.finish();
    expect(await Promise.all(slow.map((sender) => sender.status()))).toEqual([202, 202]);
    for (const sender of slow) sender.abort();
    await until(async () => (await held()) === 0);
    const retried = await post(path, third);
    expect(retried.status).toBe(202);
    // Chunked bodies are taken when there is room.
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(envelopeOfSize('chunked-ok', 2 * MiB));
        controller.close();
      },
    });
    expect((await post(path, stream)).status).toBe(202);
    await until(
      () => world.pipeline.receipts.filter((entry) => entry.path === '/inflight').length === 4,
    );
  });

  it('gives back what senders held when they hang up mid-body: nothing leaks', async () => {
    const registration = await world.register('/aborted');
    const path = new URL(registration.callbackUrl).pathname;
    const size = 8 * MiB;
    // Five rounds of 16 MiB: a leak of any of them would leave no room for the last callback.
    for (let round = 0; round < 5; round++) {
      const senders = [0, 1].map((i) =>
        rawSender(world.stack.gatewayUrl, path, envelopeOfSize(`gone-${round}-${i}`, size), {
          holdBack: size / 2,
        }),
      );
      await until(() => senders.every((sender) => sender.settled()));
      await until(async () => (await held()) === 2 * size);
      for (const sender of senders) sender.abort();
      await until(async () => (await held()) === 0);
    }
    const after = await post(path, envelopeOfSize('after-aborts', size));
    expect(after.status).toBe(202);
    await until(async () => (await held()) === 0);
  });
});
