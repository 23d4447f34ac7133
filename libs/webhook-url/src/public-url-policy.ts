import { isIP } from 'node:net';
import { WebhookUrlError, type WebhookUrlErrorCode } from './errors.js';

/** The path the gateway issues callbacks under: `<base>/v1/callbacks/llamaparse/<token>`. */
export const CALLBACK_PATH_PREFIX = '/v1/callbacks/llamaparse/';

/** Length of a callback token: 32 random bytes in base64url. */
export const CALLBACK_TOKEN_LENGTH = 43;

/**
 * Characters the gateway appends to a base URL when it issues a callback URL on a store of one
 * partition (`/v1/callbacks/llamaparse/` + a 43-character token = 68).
 */
export const CALLBACK_PATH_RESERVE = CALLBACK_PATH_PREFIX.length + CALLBACK_TOKEN_LENGTH;

/** {@link CALLBACK_PATH_RESERVE} for a store of `partitions` partitions: the tokens of
 * partitions past the first end with `.p<n>` (`.p15` with 16: 4 more characters). */
export function callbackPathReserveFor(partitions: number): number {
  return CALLBACK_PATH_RESERVE + (partitions > 1 ? `.p${partitions - 1}`.length : 0);
}

/** LlamaCloud refuses callback URLs of this length or longer. */
export const MAX_CALLBACK_URL_LENGTH = 200;

/**
 * Name suffixes that never reach us from the internet (RFC 2606, 6761, 6762, 8375, 9476 and
 * names commonly used on private networks).
 */
export const RESERVED_NAME_SUFFIXES = [
  'local',
  'localdomain',
  'internal',
  'intranet',
  'lan',
  'home',
  'corp',
  'private',
  'arpa',
  'test',
  'invalid',
  'example',
  'onion',
  'alt',
] as const;

/** Options for {@link checkPublicBaseUrl}. */
export interface PublicUrlPolicyOptions {
  /**
   * Development switch: accept plain `http`. The result is then marked `insecure`.
   * @defaultValue false
   */
  allowInsecureHttp?: boolean;
  /**
   * Characters appended to the base URL when callback URLs are issued; base + reserve must stay
   * under {@link MAX_CALLBACK_URL_LENGTH}.
   * @defaultValue {@link CALLBACK_PATH_RESERVE} (68)
   */
  callbackPathReserve?: number;
}

/** A base URL that passed the syntax policy. */
export interface PublicBaseUrl {
  /** Normalised: lowercase ASCII (punycode) host, no trailing dot, no default port, no trailing
   * slash. Append paths directly: `${baseUrl}/v1/...`. */
  baseUrl: string;
  host: string;
  /** True when plain http was accepted through the development switch. */
  insecure: boolean;
}

/** The result of {@link checkPublicBaseUrl}: a normalised URL, or the typed reason why not. */
export type PublicUrlCheck =
  | ({ ok: true } & PublicBaseUrl)
  | { ok: false; code: WebhookUrlErrorCode; reason: string; error: WebhookUrlError };

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const NUMERIC_LABEL = /^(0x[0-9a-f]*|[0-9]+)$/i;

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

function refuse(code: WebhookUrlErrorCode, reason: string): PublicUrlCheck {
  return { ok: false, code, reason, error: new WebhookUrlError(code, reason) };
}

/** Shows a refused value without flooding messages or logs. */
function show(value: string): string {
  return JSON.stringify(value.length > 120 ? `${value.slice(0, 117)}...` : value);
}

/**
 * Checks a public base URL against the syntax policy: https (http only through the development
 * switch), a DNS name that is not an IP literal in any form, not `localhost`, not a single label
 * and not a reserved name; no userinfo, query or fragment; and short enough that every callback
 * URL issued under it stays under 200 characters. Never throws.
 */
export function checkPublicBaseUrl(
  input: string,
  options: PublicUrlPolicyOptions = {},
): PublicUrlCheck {
  const reserve = options.callbackPathReserve ?? CALLBACK_PATH_RESERVE;
  if (typeof input !== 'string' || input.length === 0) {
    return refuse('WEBHOOK_URL_INVALID', 'The base URL is empty: set it to https://<public host>.');
  }
  if (input.length > 2048 || /[\s\\]/.test(input) || hasControlCharacter(input)) {
    return refuse(
      'WEBHOOK_URL_INVALID',
      `The base URL ${show(input)} contains whitespace, control characters or backslashes, or is too long to be a URL: write it as https://<public host>[/path].`,
    );
  }
  const parts = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)(.*)$/i.exec(input);
  if (!parts) {
    return refuse(
      'WEBHOOK_URL_INVALID',
      `The base URL ${show(input)} is not an absolute URL: write it as https://<public host>[/path].`,
    );
  }
  const [, rawScheme = '', authority = '', rest = ''] = parts;
  const scheme = rawScheme.toLowerCase();
  const insecure = scheme === 'http';
  if (scheme !== 'https' && !(insecure && options.allowInsecureHttp)) {
    return refuse(
      'WEBHOOK_URL_SCHEME_NOT_ALLOWED',
      insecure
        ? `The base URL ${show(input)} uses plain http; LlamaCloud requires https. Use the https URL of the gateway (plain http is only accepted with WEBHOOK_URL_ALLOW_INSECURE_HTTP=true, for development).`
        : `The base URL ${show(input)} uses the scheme "${scheme}"; only https is accepted.`,
    );
  }
  if (authority.includes('@')) {
    return refuse(
      'WEBHOOK_URL_HAS_CREDENTIALS',
      'The base URL carries user information (user:password@): remove it; callback URLs must not embed credentials.',
    );
  }
  if (rest.includes('?') || rest.includes('#')) {
    return refuse(
      'WEBHOOK_URL_HAS_QUERY_OR_FRAGMENT',
      `The base URL ${show(input)} has a query string or fragment: give only scheme, host, optional port and optional path.`,
    );
  }
  const ipLiteral = (what: string) =>
    refuse(
      'WEBHOOK_URL_IP_LITERAL',
      `The base URL host ${show(what)} is an IP address (or a form that parses as one); LlamaCloud requires a DNS name. Use the public DNS name of the gateway.`,
    );
  if (authority.startsWith('[')) return ipLiteral(authority);
  const rawHost = authority.replace(/:[0-9]*$/, '').toLowerCase();
  if (rawHost.includes('%')) {
    return refuse(
      'WEBHOOK_URL_INVALID',
      `The base URL host ${show(rawHost)} is percent-encoded: write the host name plainly.`,
    );
  }
  const rawLabels = rawHost.replace(/\.$/, '').split('.');
  const lastRaw = rawLabels[rawLabels.length - 1] ?? '';
  if (rawLabels.every((label) => NUMERIC_LABEL.test(label)) || NUMERIC_LABEL.test(lastRaw)) {
    return ipLiteral(rawHost);
  }
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return refuse(
      'WEBHOOK_URL_INVALID',
      `The base URL ${show(input)} does not parse as a URL: write it as https://<public host>[/path].`,
    );
  }
  let host = url.hostname;
  if (isIP(host) || host.startsWith('[')) return ipLiteral(host);
  // A single trailing dot names the same DNS root-relative host: accept and drop it.
  if (host.endsWith('.')) host = host.slice(0, -1);
  const labels = host.split('.');
  if (host.length === 0 || host.length > 253 || !labels.every((label) => LABEL.test(label))) {
    return refuse(
      'WEBHOOK_URL_INVALID',
      `The base URL host ${show(host)} is not a valid DNS name (letters, digits and hyphens in dot-separated labels of 1-63 characters).`,
    );
  }
  const last = labels[labels.length - 1] ?? '';
  if (NUMERIC_LABEL.test(last)) return ipLiteral(host);
  if (host === 'localhost' || host.endsWith('.localhost')) {
    return refuse(
      'WEBHOOK_URL_LOCAL_HOST',
      `The base URL host ${show(host)} is this machine: nothing on the internet can reach it. Use the gateway's public DNS name (PUBLIC_BASE_URL) or an ngrok tunnel (NGROK_AUTHTOKEN).`,
    );
  }
  if (labels.length < 2) {
    return refuse(
      'WEBHOOK_URL_LOCAL_HOST',
      `The base URL host ${show(host)} is a single-label (local network) name: use a fully qualified public DNS name.`,
    );
  }
  const reserved = RESERVED_NAME_SUFFIXES.find((suffix) => last === suffix);
  if (reserved || host.endsWith('.home.arpa')) {
    return refuse(
      'WEBHOOK_URL_RESERVED_NAME',
      `The base URL host ${show(host)} ends in ".${reserved ?? 'home.arpa'}", a name reserved for private or test use that is never reachable from the internet: use a public DNS name.`,
    );
  }
  const path = url.pathname.replace(/\/+$/, '');
  const baseUrl = `${scheme}://${host}${url.port ? `:${url.port}` : ''}${path}`;
  const longest = baseUrl.length + reserve;
  if (longest >= MAX_CALLBACK_URL_LENGTH) {
    return refuse(
      'WEBHOOK_URL_TOO_LONG',
      `The base URL is ${baseUrl.length} characters; callback URLs issued under it would be ${longest} characters, and LlamaCloud requires fewer than ${MAX_CALLBACK_URL_LENGTH}. Use a base URL of at most ${MAX_CALLBACK_URL_LENGTH - 1 - reserve} characters (a shorter host or path).`,
    );
  }
  return { ok: true, baseUrl, host, insecure };
}

/** {@link checkPublicBaseUrl}, throwing the {@link WebhookUrlError} when the URL is refused. */
export function assertPublicBaseUrl(
  input: string,
  options: PublicUrlPolicyOptions = {},
): PublicBaseUrl {
  const result = checkPublicBaseUrl(input, options);
  if (!result.ok) throw result.error;
  return { baseUrl: result.baseUrl, host: result.host, insecure: result.insecure };
}
