import { Writable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { REDACTED, SECRET_TEXT, redact, redactText } from './redact.js';

const SECRETS = {
  bearer: 'gw_live_4f9c2b7e1a3d5f6081c2',
  whsec: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  llamaKey: 'llx-9a8b7c6d5e4f3a2b1c0d',
  ngrok: '2abcDEFghiJKLmnoPQRstu_3vwxYZ0123456789abcdef',
  callbackToken: 'Q2FsbGJhY2tUb2tlbk9mNDNDaGFyYWN0ZXJzMTIzNDU2Nzg5',
};

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, stream };
}

describe('redact', () => {
  it('replaces values under secret-named keys, whatever their case or separators', () => {
    const out = redact({
      Authorization: `Bearer ${SECRETS.bearer}`,
      delivery_secret: SECRETS.whsec,
      'x-api-key': SECRETS.llamaKey,
      NGROK_AUTHTOKEN: SECRETS.ngrok,
      nested: { signingSecret: 'abc', list: [{ api_key: 'k' }] },
      harmless: 'hello',
    });
    expect(out).toEqual({
      Authorization: REDACTED,
      delivery_secret: REDACTED,
      'x-api-key': REDACTED,
      NGROK_AUTHTOKEN: REDACTED,
      nested: { signingSecret: REDACTED, list: [{ api_key: REDACTED }] },
      harmless: 'hello',
    });
  });

  it('masks secrets inside free text and keeps a short prefix of callback tokens', () => {
    const text = redactText(
      `POST https://hooks.example.com/v1/callbacks/llamaparse/${SECRETS.callbackToken} with Bearer ${SECRETS.bearer} key ${SECRETS.llamaKey} secret ${SECRETS.whsec} https://user:pa55@host.example.com/x?token=abc123&x=1`,
    );
    for (const secret of Object.values(SECRETS)) expect(text).not.toContain(secret);
    expect(text).not.toContain('pa55');
    expect(text).not.toContain('abc123');
    expect(text).toContain('/v1/callbacks/llamaparse/Q2FsbG…');
    expect(text).toContain('x=1');
  });

  it('survives cycles and errors without throwing', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = cyclic;
    expect(() => redact(cyclic)).not.toThrow();
    const error = Object.assign(new Error(`failed with ${SECRETS.whsec}`), { code: 'E_X' });
    const out = redact(error) as unknown as Record<string, string>;
    expect(out['message']).not.toContain(SECRETS.whsec);
    expect(out['code']).toBe('E_X');
  });
});

describe('createLogger', () => {
  it('never writes a secret, in fields, nested objects, errors or the message', async () => {
    const { lines, stream } = capture();
    const logger = createLogger({
      name: 'test',
      destination: stream,
      knownSecrets: [SECRETS.ngrok],
    });
    logger.info(
      {
        headers: { authorization: `Bearer ${SECRETS.bearer}` },
        config: { LLAMA_CLOUD_API_KEY: SECRETS.llamaKey },
      },
      `registered https://hooks.example.com/v1/callbacks/llamaparse/${SECRETS.callbackToken}`,
    );
    logger.error(
      { err: new Error(`ngrok refused ${SECRETS.ngrok} token? no: ${SECRETS.whsec}`) },
      'failed',
    );
    logger.warn({ authtoken: SECRETS.ngrok }, 'tunnel');
    await new Promise((resolve) => setImmediate(resolve));
    const output = lines.join('');
    expect(lines.length).toBe(3);
    for (const secret of [
      SECRETS.bearer,
      SECRETS.llamaKey,
      SECRETS.callbackToken,
      SECRETS.whsec,
      SECRETS.ngrok,
    ]) {
      expect(output).not.toContain(secret);
    }
    expect(output).toContain('"name":"test"');
    expect(output).toContain('[REDACTED]');
  });

  it('masks exactly what every pattern would, also for text it lets through after one test', () => {
    // Text made of pieces each pattern looks for, mixed with ordinary text.
    const piece = fc.oneof(
      fc.string(),
      fc.constantFrom(
        SECRETS.whsec,
        `Bearer ${SECRETS.bearer}`,
        `basic ${SECRETS.bearer}`,
        SECRETS.llamaKey,
        `https://gw.example.com/v1/callbacks/llamaparse/${SECRETS.callbackToken}`,
        'https://user:pa55word@host.example.com/x',
        'https://host.example.com/?token=abc&key=def',
        'http://127.0.0.1:9000/hook',
        'cb_0123456789abcdef0123456789abcdef',
        '2026-11-30T01:02:03.456Z',
        '://',
        '@',
        '?',
        '&',
        'whsec_',
        'llx-',
        '/v1/callbacks/',
      ),
    );
    const everyPattern = (text: string) =>
      SECRET_TEXT.reduce((out, [pattern, replace]) => out.replace(pattern, replace), text);
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 6 }), (pieces) => {
        const text = pieces.join(' ');
        expect(redactText(text)).toBe(everyPattern(text));
      }),
      { numRuns: 2_000 },
    );
  });
});
