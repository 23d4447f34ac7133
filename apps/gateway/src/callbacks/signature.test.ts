import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyLcSignature } from './signature.js';

const SECRET = 'registration-signing-secret';
const sign = (text: string, secret = SECRET) =>
  `sha256=${createHmac('sha256', secret).update(text).digest('hex')}`;
const envelope = JSON.stringify({ event_id: 'e-1', event_type: 'parse.success', note: 'é"\\' });
const literal = JSON.stringify(envelope);

describe('verifyLcSignature', () => {
  it('takes an HMAC of the raw body, a JSON object or a string literal', () => {
    expect(verifyLcSignature(sign(envelope), Buffer.from(envelope), SECRET)).toBe(true);
    expect(verifyLcSignature(sign(literal), Buffer.from(literal), SECRET)).toBe(true);
  });

  it('takes an HMAC of the text a string literal body holds (the envelope itself)', () => {
    expect(verifyLcSignature(sign(envelope), Buffer.from(literal), SECRET)).toBe(true);
    // With a byte order mark and spaces around the literal, as a sender may send it.
    const padded = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(` ${literal}\n`)]);
    expect(verifyLcSignature(sign(envelope), padded, SECRET)).toBe(true);
  });

  it('refuses another secret, another text, and an object body signed over anything else', () => {
    expect(verifyLcSignature(sign(envelope, 'other'), Buffer.from(literal), SECRET)).toBe(false);
    expect(verifyLcSignature(sign(`${envelope} `), Buffer.from(literal), SECRET)).toBe(false);
    // An object body has no inner text: the HMAC of its string literal form does not pass.
    expect(verifyLcSignature(sign(literal), Buffer.from(envelope), SECRET)).toBe(false);
    expect(verifyLcSignature('sha256=zz', Buffer.from(literal), SECRET)).toBe(false);
    expect(verifyLcSignature(sign(envelope), Buffer.from([0xff, 0x22]), SECRET)).toBe(false);
  });
});
