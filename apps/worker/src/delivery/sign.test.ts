import fc from 'fast-check';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { signStandardWebhook } from './sign.js';

describe('signStandardWebhook', () => {
  it('signs exactly as the standardwebhooks library does, for any secret, id, time and body', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 24, maxLength: 64 }),
        fc.string({ minLength: 1, maxLength: 60 }),
        fc.integer({ min: 0, max: 4_102_444_800 }),
        fc.string({ unit: 'grapheme', maxLength: 3_000 }),
        fc.boolean(),
        (key, id, seconds, body, asBytes) => {
          const secret = `whsec_${Buffer.from(key).toString('base64')}`;
          const expected = new Webhook(secret).sign(id, new Date(seconds * 1000), body);
          const payload = asBytes ? Buffer.from(body) : body;
          expect(signStandardWebhook(secret, id, seconds, payload)).toBe(expected);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('is verified by the standardwebhooks library', () => {
    const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    const body = JSON.stringify({ type: 'parse.success', payload: { text: 'Grüße 🚀' } });
    const seconds = Math.floor(Date.now() / 1000);
    const headers = {
      'webhook-id': 'cb_0123456789abcdef0123456789abcdef',
      'webhook-timestamp': String(seconds),
      'webhook-signature': signStandardWebhook(
        secret,
        'cb_0123456789abcdef0123456789abcdef',
        seconds,
        Buffer.from(body),
      ),
    };
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });
});
