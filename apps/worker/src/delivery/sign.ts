import { createHmac } from 'node:crypto';

const PREFIX = 'whsec_';
const keys = new Map<string, Buffer>();

/** The HMAC key of a Standard Webhooks secret (`whsec_<base64>`), decoded once per secret. */
function keyOf(secret: string): Buffer {
  let key = keys.get(secret);
  if (!key) {
    key = Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, 'base64');
    if (key.length === 0) throw new Error('the delivery secret is empty');
    // Bounded: a worker sees one secret per registration; old ones are dropped in bulk.
    if (keys.size >= 10_000) keys.clear();
    keys.set(secret, key);
  }
  return key;
}

/**
 * The `webhook-signature` of a delivery per Standard Webhooks: `v1,` and the base64
 * HMAC-SHA256 of `<id>.<timestamp>.<body>` under the secret's key. The same value as the
 * `standardwebhooks` package's `sign()` (a test compares them), computed by Node's crypto
 * instead of that package's JavaScript SHA-256, which costs more than the rest of a delivery.
 */
export function signStandardWebhook(
  secret: string,
  id: string,
  timestampSeconds: number,
  body: string | Buffer,
): string {
  const mac = createHmac('sha256', keyOf(secret));
  mac.update(`${id}.${timestampSeconds}.`);
  mac.update(body);
  return `v1,${mac.digest('base64')}`;
}
