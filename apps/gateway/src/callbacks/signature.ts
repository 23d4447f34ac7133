import { createHmac, timingSafeEqual } from 'node:crypto';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * Checks LlamaCloud's `LC-Signature: sha256=<hex>` (HMAC-SHA256 with the registration's signing
 * secret) in constant time, over the raw body. A body that is a JSON string literal
 * (`webhook_output_format: "string"`) may instead be signed over the text it holds, the
 * envelope's JSON: which of the two LlamaCloud signs is not documented, so either passes. Both
 * are HMACs with the same secret, so this is no weaker.
 */
export function verifyLcSignature(header: string, rawBody: Buffer, secret: string): boolean {
  const match = /^\s*sha256=([0-9a-fA-F]{64})\s*$/.exec(header);
  if (!match?.[1]) return false;
  const given = Buffer.from(match[1], 'hex');
  const signs = (bytes: Buffer) =>
    timingSafeEqual(createHmac('sha256', secret).update(bytes).digest(), given);
  if (signs(rawBody)) return true;
  const inner = stringLiteralText(rawBody);
  return inner !== undefined && signs(inner);
}

/** The UTF-8 bytes of the text a JSON string literal body holds; undefined for any other body. */
function stringLiteralText(raw: Buffer): Buffer | undefined {
  let text: string;
  try {
    text = utf8.decode(raw).trim();
  } catch {
    return undefined;
  }
  // Only a string literal has inner text: anything else is signed over its bytes alone.
  if (!text.startsWith('"')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'string' ? Buffer.from(value, 'utf8') : undefined;
  } catch {
    return undefined;
  }
}
