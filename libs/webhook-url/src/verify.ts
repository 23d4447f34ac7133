import { promises as dns } from 'node:dns';
import type { Dispatcher } from 'undici';
import { WebhookUrlError } from './errors.js';
import { classifyAddress } from './ip-address.js';
import { probePublicBaseUrl } from './probe.js';
import {
  checkPublicBaseUrl,
  type PublicBaseUrl,
  type PublicUrlPolicyOptions,
} from './public-url-policy.js';
import { raceSignal } from './timing.js';

/** How deeply a URL is verified; each depth includes the ones before it. */
export type VerificationDepth = 'syntax' | 'dns' | 'probe';

/** The depths, shallowest first. */
export const VERIFICATION_DEPTHS = ['syntax', 'dns', 'probe'] as const;

/** One address a name resolves to. */
export interface LookupAddress {
  address: string;
  family: number;
}

/** Resolves a host name to all its addresses (the shape of `dns.promises.lookup` with
 * `{ all: true }`). */
export type LookupFunction = (
  hostname: string,
  options: { all: true },
) => Promise<readonly LookupAddress[]>;

/** The default {@link LookupFunction}: the system resolver. */
export const systemLookup: LookupFunction = (hostname, options) => dns.lookup(hostname, options);

/** Options for {@link verifyPublicBaseUrl}. */
export interface VerifyOptions extends PublicUrlPolicyOptions {
  /** @defaultValue `'dns'` */
  depth?: VerificationDepth;
  /** @defaultValue {@link systemLookup} */
  lookup?: LookupFunction;
  /** The probe key; required for depth `probe`. */
  probeKey?: string;
  /** undici dispatcher for the probe. */
  dispatcher?: Dispatcher;
  /**
   * Longest wait for the probe's answer.
   * @defaultValue 5_000
   */
  probeTimeoutMs?: number;
  /** Aborts the verification (the resolve deadline). */
  signal?: AbortSignal;
}

/** A base URL that passed verification at `verifiedBy` depth. */
export interface VerifiedBaseUrl extends PublicBaseUrl {
  verifiedBy: VerificationDepth;
}

const DNS_NOT_FOUND = new Set(['ENOTFOUND', 'ENODATA', 'EAI_NONAME', 'EAI_NODATA']);

/**
 * Checks that every address `host` resolves to is public. A name that resolves to nothing is a
 * (retryable) DNS failure; one non-public address refuses the name.
 */
export async function verifyHostAddresses(
  host: string,
  lookup: LookupFunction = systemLookup,
  signal?: AbortSignal,
): Promise<readonly LookupAddress[]> {
  let addresses: readonly LookupAddress[];
  try {
    addresses = await raceSignal(
      Promise.resolve().then(() => lookup(host, { all: true })),
      signal,
    );
  } catch (error) {
    if (signal?.aborted) throw error;
    const code = (error as { code?: unknown }).code;
    const why = DNS_NOT_FOUND.has(String(code))
      ? 'the name does not exist (yet)'
      : String(code ?? error);
    throw new WebhookUrlError(
      'WEBHOOK_URL_DNS_FAILED',
      `Could not resolve ${host}: ${why}. Check the DNS record of the public host; a new record may take a while to propagate.`,
      { retryable: true, cause: error },
    );
  }
  if (addresses.length === 0) {
    throw new WebhookUrlError(
      'WEBHOOK_URL_DNS_FAILED',
      `${host} resolves to no address. Add an A or AAAA record that points at the gateway's public address.`,
      { retryable: true },
    );
  }
  const refused = addresses
    .map((entry) => ({ address: entry.address, category: classifyAddress(entry.address) }))
    .filter((entry) => entry.category !== 'public');
  if (refused.length > 0) {
    const list = refused.map((entry) => `${entry.address} (${entry.category})`).join(', ');
    throw new WebhookUrlError(
      'WEBHOOK_URL_PRIVATE_ADDRESS',
      `${host} resolves to non-public addresses: ${list}. The internet cannot reach them (or they point inside a network); use a name whose every address is public.`,
    );
  }
  return addresses;
}

/**
 * Verifies a base URL at the given depth: `syntax` (see `checkPublicBaseUrl`), `dns` (every
 * address the host resolves to is public), `probe` (also a round trip through the URL reaches
 * this gateway's probe endpoint and returns our proof).
 * @throws WebhookUrlError with the code of the first failed check.
 */
export async function verifyPublicBaseUrl(
  url: string,
  options: VerifyOptions = {},
): Promise<VerifiedBaseUrl> {
  const depth = options.depth ?? 'dns';
  const checked = checkPublicBaseUrl(url, options);
  if (!checked.ok) throw checked.error;
  const result: VerifiedBaseUrl = {
    baseUrl: checked.baseUrl,
    host: checked.host,
    insecure: checked.insecure,
    verifiedBy: depth,
  };
  if (depth === 'syntax') return result;
  if (depth === 'probe' && !options.probeKey) {
    throw new WebhookUrlError(
      'WEBHOOK_URL_PROBE_KEY_MISSING',
      'Verification depth "probe" needs a probe key, and none is configured: set WEBHOOK_URL_PROBE_KEY (the same value in the gateway), or choose WEBHOOK_URL_VERIFY=dns.',
    );
  }
  await verifyHostAddresses(checked.host, options.lookup, options.signal);
  if (depth === 'probe') {
    await probePublicBaseUrl(checked.baseUrl, {
      key: options.probeKey as string,
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.probeTimeoutMs ? { timeoutMs: options.probeTimeoutMs } : {}),
    });
  }
  return result;
}
