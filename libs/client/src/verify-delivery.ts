import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { DeliveryVerificationError, type DeliveryVerificationErrorCode } from './errors.js';
import { deliveryEnvelopeSchema, describeIssues, type DeliveryEnvelope } from './wire.js';

/**
 * How far a delivery's `webhook-timestamp` may be from now, in seconds: the `standardwebhooks`
 * library's own tolerance, which it applies to every verification and does not let callers change.
 */
export const DELIVERY_TOLERANCE_SECONDS = 5 * 60;

/** Request headers as Node (`req.headers`, any case) or fetch (`Headers`) give them. */
export type DeliveryHeaders = Headers | Readonly<Record<string, string | string[] | undefined>>;

/** A verified delivery: the envelope, plus what identifies this message. */
export interface VerifiedDelivery extends DeliveryEnvelope {
  /**
   * `webhook-id`: the same on every retry of one delivery. Deduplicate on it (the idempotency key).
   */
  webhookId: string;
  /** `webhook-timestamp`: when this attempt was signed. */
  timestamp: Date;
}

const HEADER_NAMES = ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const;
type HeaderName = (typeof HEADER_NAMES)[number];

/**
 * Verifies a delivery the gateway's worker sent to the pipeline, signed per Standard Webhooks
 * (`webhook-id`, `webhook-timestamp`, `webhook-signature`), over the exact bytes received, and
 * returns its parsed envelope. Several space-separated signatures (key rotation) are accepted when
 * one matches. The timestamp must be within {@link DELIVERY_TOLERANCE_SECONDS} of now.
 *
 * @param headers - the request headers (plain object in any case, or a `Headers` instance)
 * @param rawBody - the body exactly as received, before any JSON parsing
 * @param secret - the registration's `deliverySecret` (`whsec_...`)
 * @throws DeliveryVerificationError when the delivery must not be processed (answer 400/401)
 */
export function verifyDelivery(
  headers: DeliveryHeaders,
  rawBody: string | Uint8Array,
  secret: string,
): VerifiedDelivery {
  const found = readHeaders(headers);
  const timestampSeconds = checkTimestamp(found['webhook-timestamp']);
  const body = decodeBody(rawBody);
  const webhook = keyFrom(secret);

  try {
    webhook.verify(body, found, { jsonParse: false });
  } catch (error) {
    throw fromLibrary(error);
  }

  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    throw new DeliveryVerificationError(
      'DELIVERY_BODY_INVALID',
      'The delivery is signed correctly but its body is not JSON; it is not from this gateway version.',
      { cause: error },
    );
  }
  const envelope = deliveryEnvelopeSchema.safeParse(json);
  if (!envelope.success) {
    throw new DeliveryVerificationError(
      'DELIVERY_BODY_INVALID',
      `The delivery is signed correctly but is not a delivery envelope (${describeIssues(envelope.error)}).`,
      { cause: envelope.error },
    );
  }
  return {
    ...envelope.data,
    webhookId: found['webhook-id'],
    timestamp: new Date(timestampSeconds * 1000),
  };
}

function readHeaders(headers: DeliveryHeaders): Record<HeaderName, string> {
  const lookup = toLookup(headers);
  const values = {} as Record<HeaderName, string>;
  const missing: string[] = [];
  for (const name of HEADER_NAMES) {
    const value = lookup(name);
    if (value === undefined || value.trim() === '') missing.push(name);
    else values[name] = value.trim();
  }
  if (missing.length > 0) {
    throw new DeliveryVerificationError(
      'DELIVERY_HEADERS_MISSING',
      `The delivery lacks ${missing.join(', ')}; it was not signed by the gateway ` +
        '(or a proxy dropped the headers).',
    );
  }
  return values;
}

function toLookup(headers: DeliveryHeaders): (name: HeaderName) => string | undefined {
  if (typeof Headers !== 'undefined' && headers instanceof Headers) {
    return (name) => headers.get(name) ?? undefined;
  }
  const byLowerName = new Map<string, string | string[] | undefined>();
  for (const [key, value] of Object.entries(headers)) byLowerName.set(key.toLowerCase(), value);
  return (name) => {
    const value = byLowerName.get(name);
    if (!Array.isArray(value)) return value;
    // A repeated signature header still lists signatures; any other repeated header is ambiguous.
    if (name === 'webhook-signature') return value.join(' ');
    if (value.length > 1) {
      throw new DeliveryVerificationError(
        'DELIVERY_HEADERS_INVALID',
        `The delivery carries ${name} more than once; refusing to guess which one was signed.`,
      );
    }
    return value[0];
  };
}

function checkTimestamp(header: string): number {
  if (!/^\d{1,12}$/.test(header)) {
    throw new DeliveryVerificationError(
      'DELIVERY_HEADERS_INVALID',
      'The delivery webhook-timestamp is not whole seconds since the epoch.',
    );
  }
  const seconds = Number(header);
  const skew = Math.floor(Date.now() / 1000) - seconds;
  if (Math.abs(skew) > DELIVERY_TOLERANCE_SECONDS) throw outOfTolerance(skew);
  return seconds;
}

function outOfTolerance(skewSeconds?: number): DeliveryVerificationError {
  const by = skewSeconds === undefined ? '' : ` (${skewSeconds} s off)`;
  return new DeliveryVerificationError(
    'DELIVERY_TIMESTAMP_OUT_OF_TOLERANCE',
    `The delivery webhook-timestamp is more than ${DELIVERY_TOLERANCE_SECONDS} s from now${by}: ` +
      'a replay, or a clock out of sync (check NTP on both hosts).',
  );
}

// Standard Webhooks signs `{id}.{timestamp}.{body}` as UTF-8. Decoding strictly (no replacement
// characters, byte-order mark kept) makes the string re-encode to exactly the bytes received, so
// the signature is checked over those bytes and two different bodies cannot share one signature.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeBody(rawBody: string | Uint8Array): string {
  if (typeof rawBody === 'string') return rawBody;
  if (!(rawBody instanceof Uint8Array)) {
    throw new DeliveryVerificationError(
      'DELIVERY_BODY_INVALID',
      'The raw body must be a string, Buffer or Uint8Array, read before any JSON parsing.',
    );
  }
  try {
    return strictUtf8.decode(rawBody);
  } catch (error) {
    throw new DeliveryVerificationError(
      'DELIVERY_BODY_INVALID',
      'The delivery body is not valid UTF-8, so it cannot be a signed delivery envelope.',
      { cause: error },
    );
  }
}

function keyFrom(secret: string): Webhook {
  try {
    if (typeof secret !== 'string' || secret === '') throw new TypeError('empty secret');
    return new Webhook(secret);
  } catch (error) {
    // The secret is not quoted: it must not reach logs.
    throw new DeliveryVerificationError(
      'DELIVERY_SECRET_INVALID',
      'The delivery secret is not a Standard Webhooks secret (whsec_ followed by base64); ' +
        "use the registration's deliverySecret.",
      { cause: error },
    );
  }
}

function fromLibrary(error: unknown): DeliveryVerificationError {
  const message = error instanceof Error ? error.message : String(error);
  let code: DeliveryVerificationErrorCode = 'DELIVERY_SIGNATURE_INVALID';
  // Our own checks run first; these cover the library's, should its view differ at a boundary.
  if (error instanceof WebhookVerificationError) {
    if (/timestamp too (old|new)/i.test(message)) return outOfTolerance();
    if (/missing required headers/i.test(message)) code = 'DELIVERY_HEADERS_MISSING';
    else if (/invalid signature headers/i.test(message)) code = 'DELIVERY_HEADERS_INVALID';
  }
  const text =
    code === 'DELIVERY_SIGNATURE_INVALID'
      ? 'No webhook-signature of the delivery matches its body and the delivery secret: ' +
        'the body was changed, or the secret is not the one of this registration.'
      : `The delivery headers were refused: ${message}.`;
  return new DeliveryVerificationError(code, text, { cause: error });
}
