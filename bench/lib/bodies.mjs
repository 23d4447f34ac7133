/**
 * Callback bodies as a parser sends them. Envelopes are non-final `parse.running` events with a
 * unique `event_id` each (a registration takes only one final event), padded to a fixed size;
 * `sent_at` carries the sender's clock for the end-to-end latency.
 */
const PAD = 'x'.repeat(4 * 1024 * 1024);

export function envelopeBody(eventId, bytes, sentAt = 0, phase = 'measure') {
  const head = `{"event_id":"${eventId}","event_type":"parse.running","data":{"job_id":"j","phase":"${phase}","sent_at":${sentAt},"pad":"`;
  const tail = '"}}';
  return head + PAD.slice(0, Math.max(0, bytes - head.length - tail.length)) + tail;
}

/** The legacy full-result body (`txt`, `md`, `json`, `images`) of about `bytes` bytes. */
export function legacyBody(bytes) {
  const share = Math.floor((bytes - 120) / 3);
  const text = (n) => 'Lorem ipsum dolor sit amet. '.repeat(Math.ceil(n / 28)).slice(0, n);
  return JSON.stringify({
    txt: text(share),
    md: `# Page 1\n\n${text(share - 10)}`,
    json: [{ page: 1, text: text(share - 20) }],
    images: [],
  });
}
