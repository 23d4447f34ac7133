import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Checks LlamaCloud's `LC-Signature: sha256=<hex>` (HMAC-SHA256 of the raw body with the
 * registration's signing secret) in constant time.
 */
export function verifyLcSignature(header: string, rawBody: Buffer, secret: string): boolean {
  const match = /^\s*sha256=([0-9a-fA-F]{64})\s*$/.exec(header);
  if (!match?.[1]) return false;
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  return timingSafeEqual(expected, Buffer.from(match[1], 'hex'));
}
