import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CallbackDecodeError, decodeCallback } from './decode.js';

const JSON_TYPE = 'application/json';
const envelope = {
  event_id: '149744dd-9002-4411-a6c7-9635da372caa',
  event_type: 'parse.success',
  timestamp: 1753985275.1154444,
  data: {
    id: 'a9a57884-921e-4ec2-b555-f4e5a97ec02a',
    job_id: 'a9a57884-921e-4ec2-b555-f4e5a97ec02a',
  },
};
const legacy = {
  txt: 'raw text',
  md: 'markdown text',
  json: [{ page: 1, text: 'page 1 raw text', md: 'page 1 markdown text', images: [] }],
  images: ['img_p0_1.png'],
};

function refusal(body: Buffer | string, contentType: string | undefined = JSON_TYPE) {
  try {
    decodeCallback(Buffer.isBuffer(body) ? body : Buffer.from(body), contentType);
  } catch (error) {
    if (error instanceof CallbackDecodeError)
      return { status: error.status, message: error.message };
    throw error;
  }
  return undefined;
}

describe('decodeCallback', () => {
  it('recognises the v2 event envelope, its job id, and dedups on event_id', () => {
    const decoded = decodeCallback(Buffer.from(JSON.stringify(envelope)), JSON_TYPE);
    expect(decoded).toMatchObject({
      format: 'event',
      eventType: 'parse.success',
      eventId: envelope.event_id,
      jobId: envelope.data.job_id,
      stringEncoded: false,
      dedupKey: `event:${envelope.event_id}`,
    });
    expect(JSON.parse(decoded.payloadJson)).toEqual(envelope);
  });

  it('decodes twice when the body is a JSON string holding the envelope', () => {
    const body = JSON.stringify(JSON.stringify(envelope));
    const decoded = decodeCallback(Buffer.from(body), 'application/json; charset=utf-8');
    expect(decoded.format).toBe('event');
    expect(decoded.stringEncoded).toBe(true);
    expect(decoded.payloadJson).toBe(JSON.stringify(envelope));
    expect(decoded.dedupKey).toBe(`event:${envelope.event_id}`);
  });

  it('recognises the legacy full result, which has no job id, and dedups on the body hash', () => {
    const body = Buffer.from(JSON.stringify(legacy));
    const decoded = decodeCallback(body, JSON_TYPE);
    expect(decoded.format).toBe('legacy');
    expect(decoded.jobId).toBeUndefined();
    expect(decoded.dedupKey).toMatch(/^body:[0-9a-f]{64}$/);
    expect(decodeCallback(Buffer.from(JSON.stringify(legacy)), JSON_TYPE).dedupKey).toBe(
      decoded.dedupKey,
    );
    expect(
      decodeCallback(Buffer.from(JSON.stringify({ ...legacy, md: 'other' })), JSON_TYPE).dedupKey,
    ).not.toBe(decoded.dedupKey);
  });

  it('keeps unknown event types and extra fields untouched', () => {
    const odd = { ...envelope, event_type: 'sheets.finished', extra: { nested: [1, 2, 3] } };
    const raw = JSON.stringify(odd);
    const decoded = decodeCallback(Buffer.from(raw), JSON_TYPE);
    expect(decoded.eventType).toBe('sheets.finished');
    expect(decoded.payloadJson).toBe(raw);
  });

  it('accepts an object it does not recognise as format "other"', () => {
    expect(decodeCallback(Buffer.from('{"status":"done","job_id":"j1"}'), undefined)).toMatchObject(
      {
        format: 'other',
        jobId: 'j1',
      },
    );
  });

  it('refuses what it cannot store, with the reason', () => {
    expect(refusal('{"a":1}', 'text/plain')).toEqual({
      status: 415,
      message: 'expected a JSON body (Content-Type: application/json), got "text/plain"',
    });
    expect(refusal('{"a":1}', 'application/json; charset=latin1')?.status).toBe(415);
    expect(refusal('')).toEqual({ status: 400, message: 'the body is empty' });
    expect(refusal('{"a":')?.message).toMatch(/^the body is not valid JSON/);
    expect(refusal(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]))).toEqual({
      status: 400,
      message: 'the body is not valid UTF-8',
    });
    expect(refusal('[1,2]')?.message).toBe(
      'expected a JSON object (an event envelope or a parse result), got an array',
    );
    expect(refusal('null')?.message).toContain('got null');
    expect(refusal('"not json inside"')?.message).toContain('its content is not JSON');
    expect(refusal(JSON.stringify(JSON.stringify([1])))?.message).toContain('got an array');
  });

  it('takes numeric ids as their exact digits, so two ids past 2^53 never merge', () => {
    const body = (eventId: string, jobId: string) =>
      Buffer.from(
        `{"event_id":${eventId},"event_type":"parse.running","data":{"job_id":${jobId}}}`,
      );
    const first = decodeCallback(body('12345678901234567890', '9007199254740993'), JSON_TYPE);
    const second = decodeCallback(body('12345678901234567891', '9007199254740992'), JSON_TYPE);
    expect(first).toMatchObject({
      eventId: '12345678901234567890',
      jobId: '9007199254740993',
      dedupKey: 'event:12345678901234567890',
    });
    expect(second).toMatchObject({
      eventId: '12345678901234567891',
      jobId: '9007199254740992',
      dedupKey: 'event:12345678901234567891',
    });
    // The same in a string-encoded body, and for the job id of a body of another format.
    const encoded = JSON.stringify('{"event_id":12345678901234567891,"event_type":"x"}');
    expect(decodeCallback(Buffer.from(encoded), JSON_TYPE).eventId).toBe('12345678901234567891');
    expect(decodeCallback(Buffer.from('{"job_id":1.0e2}'), JSON_TYPE).jobId).toBe('1.0e2');
    expect(decodeCallback(Buffer.from('{"event_id":7}'), JSON_TYPE).dedupKey).toBe('event:7');
  });

  it('accepts application/*+json types', () => {
    expect(decodeCallback(Buffer.from('{"md":"x"}'), 'application/vnd.llama+json').format).toBe(
      'legacy',
    );
  });

  it('either decodes to a JSON object or refuses with 400/415, for any bytes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
          fc.json().map((text) => Buffer.from(text)),
          fc.json().map((text) => Buffer.from(JSON.stringify(text))),
        ),
        fc.constantFrom(undefined, JSON_TYPE, 'text/plain', 'application/x-www-form-urlencoded'),
        (body, contentType) => {
          try {
            const decoded = decodeCallback(body, contentType);
            expect(typeof decoded.payload).toBe('object');
            expect(Array.isArray(decoded.payload)).toBe(false);
            expect(JSON.parse(decoded.payloadJson)).toEqual(decoded.payload);
          } catch (error) {
            expect(error).toBeInstanceOf(CallbackDecodeError);
            expect([400, 415]).toContain((error as CallbackDecodeError).status);
          }
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('survives deep nesting without a stack overflow', () => {
    const deep = `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`;
    expect(decodeCallback(Buffer.from(deep), JSON_TYPE).format).toBe('other');
  });
});
