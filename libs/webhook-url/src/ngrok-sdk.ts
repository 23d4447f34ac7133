import { WebhookUrlError } from './errors.js';

/** The part of an `@ngrok/ngrok` `Listener` this library uses. */
export interface NgrokListener {
  /** The public URL, or null when the listener has none (closed). */
  url(): string | null;
  close(): Promise<void>;
}

/** The `@ngrok/ngrok` `forward()` options this library sets (names exactly as the SDK's). */
export interface NgrokForwardConfig {
  /** Where the tunnel forwards to, `host:port`. */
  addr: string;
  authtoken: string;
  domain?: string;
  /** Another ngrok ingress address (custom ingress, or tests on loopback). */
  server_addr?: string;
  force_new_session?: boolean;
  /** The SDK calls it with `"connected"` / `"closed"` (also `"closed"` when a first connect
   * fails). */
  onStatusChange?: (status: string) => void;
  session_metadata?: string;
}

/** `forward()` of `@ngrok/ngrok`, or a test double with the same shapes. */
export type NgrokForward = (config: NgrokForwardConfig) => Promise<NgrokListener>;

/** `disconnect(url?)` of `@ngrok/ngrok`: closes the listener with that URL. */
export type NgrokDisconnect = (url?: string) => Promise<void>;

/** Loads the real SDK lazily, so a process that never uses ngrok never loads its native code. */
export async function loadNgrokSdk(): Promise<{
  forward: NgrokForward;
  disconnect: NgrokDisconnect;
}> {
  // A CommonJS package: its `module.exports` is the default export.
  const module = (await import('@ngrok/ngrok')).default;
  return {
    forward: (config) => module.forward({ ...config }),
    disconnect: (url) => module.disconnect(url),
  };
}

/** ngrok error codes that mean the authtoken itself is wrong (never retried). */
const AUTH_CODES = new Set([
  'ERR_NGROK_105',
  'ERR_NGROK_106',
  'ERR_NGROK_107',
  'ERR_NGROK_300',
  'ERR_NGROK_4018',
]);

/** ngrok error codes that refuse the account or domain (never retried). */
const REFUSED_CODES = new Set([
  'ERR_NGROK_102',
  'ERR_NGROK_103',
  'ERR_NGROK_320',
  'ERR_NGROK_401',
  'ERR_NGROK_404',
  'ERR_NGROK_413',
  'ERR_NGROK_414',
  'ERR_NGROK_7117',
  'ERR_NGROK_7118',
]);

/** Replaces every occurrence of the given secrets (e.g. an authtoken echoed by ngrok). */
export function maskSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 4) out = out.split(secret).join('[REDACTED]');
  }
  return out;
}

/**
 * Turns an error of the ngrok SDK into a typed error. ngrok echoes the authtoken in some
 * messages ("Your authtoken: ..."), so the message is masked and the original error is not
 * kept as `cause` (a masked copy is).
 */
export function classifyNgrokError(error: unknown, secrets: readonly (string | undefined)[]) {
  const raw = error instanceof Error ? error.message : String(error);
  const message = maskSecrets(raw, secrets);
  const sdkCode = (error as { errorCode?: unknown } | null)?.errorCode;
  const code =
    typeof sdkCode === 'string' ? sdkCode : (/ERR_NGROK_\d+/.exec(message)?.[0] ?? undefined);
  const cause = Object.assign(new Error(message), code ? { errorCode: code } : {});
  if ((code && AUTH_CODES.has(code)) || /authentication failed|authtoken/i.test(message)) {
    return new WebhookUrlError(
      'WEBHOOK_URL_NGROK_AUTH',
      `ngrok refused the authtoken (${message}). Set NGROK_AUTHTOKEN to a valid token from https://dashboard.ngrok.com/get-started/your-authtoken.`,
      { cause },
    );
  }
  if (code) {
    const permanent = REFUSED_CODES.has(code);
    return new WebhookUrlError(
      'WEBHOOK_URL_NGROK_REFUSED',
      `ngrok refused the tunnel (${message}). ${permanent ? 'Check NGROK_DOMAIN and the ngrok account (reserved domain, plan, suspension).' : `See https://ngrok.com/docs/errors/${code.toLowerCase()}/.`}`,
      { cause, retryable: !permanent },
    );
  }
  if (/invalid server address/i.test(message)) {
    return new WebhookUrlError(
      'WEBHOOK_URL_CONFIG_INVALID',
      `The ngrok server address is invalid (${message}): fix or remove the server address option.`,
      { cause },
    );
  }
  return new WebhookUrlError(
    'WEBHOOK_URL_NGROK_CONNECT',
    `Could not connect to ngrok (${message}). Check outbound network access to ngrok (TCP 443 to connect.ngrok-agent.com); it is retried with backoff.`,
    { cause, retryable: true },
  );
}
