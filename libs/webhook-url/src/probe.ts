import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { request, type Dispatcher } from 'undici';
import { WebhookUrlError } from './errors.js';
import { raceSignal } from './timing.js';

/**
 * Where the gateway answers probes: `GET <base>/.well-known/callback-gateway/probe?nonce=<hex>`.
 * The answer is `200 {"nonce": "<nonce>", "proof": "<hex HMAC-SHA256(probeKey, nonce)>"}`.
 */
export const PROBE_PATH = '/.well-known/callback-gateway/probe';

const NONCE = /^[0-9a-f]{16,128}$/;

/** The proof for `nonce`: hex HMAC-SHA256 keyed with the shared probe key. */
export function probeProof(key: string, nonce: string): string {
  return createHmac('sha256', key).update(nonce).digest('hex');
}

/** What the gateway's probe endpoint answers (framework-free: mount it in any router). */
export interface ProbeAnswer {
  status: 200 | 400;
  body: { nonce: string; proof: string } | { error: string };
}

/**
 * The gateway side of the probe: proves that this gateway holds the probe key. A nonce that is
 * not 16-128 lowercase hex characters gets a 400 (nothing is signed for arbitrary input).
 */
export function answerProbe(key: string, nonce: unknown): ProbeAnswer {
  if (typeof nonce !== 'string' || !NONCE.test(nonce)) {
    return { status: 400, body: { error: 'nonce must be 16-128 lowercase hex characters' } };
  }
  return { status: 200, body: { nonce, proof: probeProof(key, nonce) } };
}

/** Options for {@link probePublicBaseUrl}. */
export interface ProbeOptions {
  /** The shared probe key (`WEBHOOK_URL_PROBE_KEY`). */
  key: string;
  /** undici dispatcher for the request. @defaultValue undici's global dispatcher */
  dispatcher?: Dispatcher;
  /** Aborts the request (the resolve deadline). */
  signal?: AbortSignal;
  /**
   * Longest wait for the answer's headers and body.
   * @defaultValue 5_000
   */
  timeoutMs?: number;
  /**
   * Largest answer body read; a larger one fails the probe.
   * @defaultValue 4_096
   */
  maxBodyBytes?: number;
  /** Creates the nonce. @defaultValue 16 random bytes in hex */
  nonce?: () => string;
}

function failed(baseUrl: string, why: string, cause?: unknown): WebhookUrlError {
  return new WebhookUrlError(
    'WEBHOOK_URL_PROBE_FAILED',
    `The probe through ${baseUrl}${PROBE_PATH} failed: ${why}. Check that the gateway is running and that the URL (or the tunnel) forwards to it.`,
    { retryable: true, cause },
  );
}

/** Drops an unread body; undici reports the abort as an 'error' event that must be listened to. */
function discard(body: { on(event: 'error', listener: () => void): unknown; destroy(): unknown }) {
  body.on('error', () => undefined);
  body.destroy();
}

async function readCapped(body: AsyncIterable<Uint8Array>, max: number): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > max) return null;
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Proves that `baseUrl` routes to *this* gateway: GETs the probe endpoint through it with a
 * fresh nonce and checks the HMAC proof in constant time. Redirects are not followed, the body
 * is capped, and the request is bounded by `timeoutMs` and `signal`.
 * @throws WebhookUrlError `WEBHOOK_URL_PROBE_FAILED` (retryable: no answer, wrong status, bad
 * body) or `WEBHOOK_URL_PROBE_MISMATCH` (someone answered, but not with our proof).
 */
export async function probePublicBaseUrl(baseUrl: string, options: ProbeOptions): Promise<void> {
  const nonce = options.nonce?.() ?? randomBytes(16).toString('hex');
  const timeoutMs = options.timeoutMs ?? 5_000;
  const maxBodyBytes = options.maxBodyBytes ?? 4_096;
  const target = `${baseUrl}${PROBE_PATH}?nonce=${nonce}`;
  let text: string | null;
  let statusCode: number;
  try {
    const response = await raceSignal(
      request(target, {
        method: 'GET',
        ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        headers: { accept: 'application/json', 'user-agent': 'callback-gateway-probe/1' },
      }),
      options.signal,
    );
    statusCode = response.statusCode;
    if (statusCode !== 200) {
      discard(response.body);
      const redirect = statusCode >= 300 && statusCode < 400;
      throw failed(
        baseUrl,
        `answered HTTP ${statusCode}${redirect ? ' (a redirect: redirects are not followed)' : ''}`,
      );
    }
    text = await raceSignal(readCapped(response.body, maxBodyBytes), options.signal);
    if (text === null) {
      discard(response.body);
      throw failed(baseUrl, `the answer is larger than ${maxBodyBytes} bytes`);
    }
  } catch (error) {
    if (error instanceof WebhookUrlError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw failed(baseUrl, `no answer (${message})`, error);
  }
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    throw failed(baseUrl, 'the answer is not JSON');
  }
  const proof = (answer as { proof?: unknown } | null)?.proof;
  const echoed = (answer as { nonce?: unknown } | null)?.nonce;
  const expected = Buffer.from(probeProof(options.key, nonce), 'utf8');
  const given = Buffer.from(typeof proof === 'string' ? proof : '', 'utf8');
  const matches =
    echoed === nonce && given.length === expected.length && timingSafeEqual(given, expected);
  if (!matches) {
    throw new WebhookUrlError(
      'WEBHOOK_URL_PROBE_MISMATCH',
      `The probe through ${baseUrl} was answered, but not with this gateway's proof: the URL routes to another service, or the gateway runs with a different WEBHOOK_URL_PROBE_KEY. Point the URL at this gateway and use the same probe key everywhere.`,
    );
  }
}
