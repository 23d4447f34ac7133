import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { DeliveryVerificationError } from './errors.js';
import { verifyDelivery } from './verify-delivery.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
const oldSecret = `whsec_${randomBytes(32).toString('base64')}`;

const envelope = {
  type: 'parse.callback',
  registration_id: 'reg_1',
  parse_job_id: 'job_42',
  received_at: '2026-01-01T00:05:00.000Z',
  format: 'event',
  payload: { event_type: 'parse.success', data: { job_id: 'job_42', text: 'Grüße ✓' } },
};

/** Signs like the gateway's worker: `standardwebhooks`' own `Webhook#sign`. */
function signed(
  body: string,
  options: { id?: string; at?: Date; secrets?: string[] } = {},
): Record<string, string> {
  const id = options.id ?? 'msg_2f1c';
  const at = options.at ?? new Date();
  const signatures = (options.secrets ?? [secret]).map((s) => new Webhook(s).sign(id, at, body));
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signatures.join(' '),
  };
}

function refusal(run: () => unknown): DeliveryVerificationError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(DeliveryVerificationError);
    return error as DeliveryVerificationError;
  }
  throw new Error('expected verifyDelivery to throw');
}

describe('verifyDelivery', () => {
  it('returns the envelope camelCased with the webhook id to deduplicate on', () => {
    const body = JSON.stringify(envelope);
    const at = new Date();
    const delivery = verifyDelivery(signed(body, { at }), body, secret);
    expect(delivery).toEqual({
      type: 'parse.callback',
      registrationId: 'reg_1',
      parseJobId: 'job_42',
      receivedAt: '2026-01-01T00:05:00.000Z',
      format: 'event',
      payload: envelope.payload,
      reconciled: false,
      extra: {},
      webhookId: 'msg_2f1c',
      timestamp: new Date(Math.floor(at.getTime() / 1000) * 1000),
    });
  });

  it('keeps the same webhook id across retries of one delivery', () => {
    const body = JSON.stringify({ ...envelope, reconciled: true, attempt_hint: 2 });
    const first = verifyDelivery(signed(body, { id: 'msg_same' }), body, secret);
    const retry = verifyDelivery(
      signed(body, { id: 'msg_same', at: new Date(Date.now() - 60_000) }),
      body,
      secret,
    );
    expect(retry.webhookId).toBe(first.webhookId);
    expect(retry.reconciled).toBe(true);
    expect(retry.extra).toEqual({ attempt_hint: 2 });
  });

  it('verifies the exact bytes of a Buffer or Uint8Array body', () => {
    const body = JSON.stringify(envelope);
    const headers = signed(body);
    expect(verifyDelivery(headers, Buffer.from(body), secret).parseJobId).toBe('job_42');
    expect(verifyDelivery(headers, new TextEncoder().encode(body), secret).webhookId).toBe(
      'msg_2f1c',
    );
  });

  it('reads headers in any case, from a plain object or a Headers instance', () => {
    const body = JSON.stringify(envelope);
    const headers = signed(body);
    const shouting = Object.fromEntries(
      Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]),
    );
    expect(verifyDelivery(shouting, body, secret).webhookId).toBe('msg_2f1c');
    expect(verifyDelivery(new Headers(headers), body, secret).webhookId).toBe('msg_2f1c');
  });

  it('accepts several signatures when one matches (key rotation)', () => {
    const body = JSON.stringify(envelope);
    const headers = signed(body, { secrets: [oldSecret, secret] });
    expect(headers['webhook-signature']?.split(' ')).toHaveLength(2);
    expect(verifyDelivery(headers, body, secret).registrationId).toBe('reg_1');
    expect(verifyDelivery(headers, body, oldSecret).registrationId).toBe('reg_1');
  });

  it('refuses a tampered body', () => {
    const body = JSON.stringify(envelope);
    const tampered = body.replace('job_42', 'job_43');
    expect(refusal(() => verifyDelivery(signed(body), tampered, secret)).code).toBe(
      'DELIVERY_SIGNATURE_INVALID',
    );
  });

  it('refuses bytes that differ but decode to the same text', () => {
    const text = JSON.stringify({ ...envelope, payload: { note: '\uFFFD' } });
    const [before, after] = text.split('\uFFFD') as [string, string];
    const lossy = Buffer.concat([Buffer.from(before), Buffer.from([0xff]), Buffer.from(after)]);
    expect(lossy.toString('utf8')).toBe(text);
    const error = refusal(() => verifyDelivery(signed(text), lossy, secret));
    expect(error.code).toBe('DELIVERY_BODY_INVALID');
    expect(error.message).toContain('UTF-8');
    expect(verifyDelivery(signed(text), Buffer.from(text), secret).payload).toEqual({
      note: '\uFFFD',
    });
  });

  it('refuses a delivery signed with another secret', () => {
    const body = JSON.stringify(envelope);
    const error = refusal(() =>
      verifyDelivery(signed(body, { secrets: [oldSecret] }), body, secret),
    );
    expect(error.code).toBe('DELIVERY_SIGNATURE_INVALID');
    expect(error.message).not.toContain(secret.slice(6));
  });

  it('refuses a timestamp older than five minutes, even when correctly signed', () => {
    const body = JSON.stringify(envelope);
    const at = new Date(Date.now() - 6 * 60_000);
    expect(refusal(() => verifyDelivery(signed(body, { at }), body, secret)).code).toBe(
      'DELIVERY_TIMESTAMP_OUT_OF_TOLERANCE',
    );
  });

  it('refuses a timestamp more than five minutes ahead', () => {
    const body = JSON.stringify(envelope);
    const at = new Date(Date.now() + 6 * 60_000);
    expect(refusal(() => verifyDelivery(signed(body, { at }), body, secret)).code).toBe(
      'DELIVERY_TIMESTAMP_OUT_OF_TOLERANCE',
    );
  });

  it('accepts a timestamp four minutes old', () => {
    const body = JSON.stringify(envelope);
    const at = new Date(Date.now() - 4 * 60_000);
    expect(verifyDelivery(signed(body, { at }), body, secret).type).toBe('parse.callback');
  });

  it.each(['webhook-id', 'webhook-timestamp', 'webhook-signature'])(
    'refuses a delivery without %s and names it',
    (name) => {
      const body = JSON.stringify(envelope);
      const headers: Record<string, string> = { ...signed(body) };
      delete headers[name];
      const error = refusal(() => verifyDelivery(headers, body, secret));
      expect(error.code).toBe('DELIVERY_HEADERS_MISSING');
      expect(error.message).toContain(name);
    },
  );

  it('refuses a timestamp that is not whole seconds', () => {
    const body = JSON.stringify(envelope);
    const headers = { ...signed(body), 'webhook-timestamp': '1767225600abc' };
    expect(refusal(() => verifyDelivery(headers, body, secret)).code).toBe(
      'DELIVERY_HEADERS_INVALID',
    );
  });

  it('refuses a webhook-id sent twice, but joins repeated signature headers', () => {
    const body = JSON.stringify(envelope);
    const headers = signed(body, { secrets: [oldSecret, secret] });
    const [first, second] = (headers['webhook-signature'] ?? '').split(' ');
    const repeated = { ...headers, 'webhook-signature': [first ?? '', second ?? ''] };
    expect(verifyDelivery(repeated, body, secret).webhookId).toBe('msg_2f1c');
    const twice = { ...headers, 'webhook-id': ['msg_a', 'msg_b'] };
    expect(refusal(() => verifyDelivery(twice, body, secret)).code).toBe(
      'DELIVERY_HEADERS_INVALID',
    );
  });

  it('refuses a secret that is not a Standard Webhooks secret', () => {
    const body = JSON.stringify(envelope);
    expect(refusal(() => verifyDelivery(signed(body), body, 'whsec_%%%')).code).toBe(
      'DELIVERY_SECRET_INVALID',
    );
    expect(refusal(() => verifyDelivery(signed(body), body, '')).code).toBe(
      'DELIVERY_SECRET_INVALID',
    );
  });

  it('refuses a correctly signed body that is not a delivery envelope', () => {
    const notJson = 'hello';
    expect(refusal(() => verifyDelivery(signed(notJson), notJson, secret)).code).toBe(
      'DELIVERY_BODY_INVALID',
    );
    const wrongShape = JSON.stringify({ ...envelope, registration_id: undefined, format: 'xml' });
    const error = refusal(() => verifyDelivery(signed(wrongShape), wrongShape, secret));
    expect(error.code).toBe('DELIVERY_BODY_INVALID');
    expect(error.message).toContain('registration_id');
  });
});
