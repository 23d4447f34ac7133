/** What replaces a secret value. */
export const REDACTED = '[REDACTED]';

/** Keys whose values are secrets wherever they appear (compared case-insensitively, `-`/`_` ignored). */
const SECRET_KEY =
  /^(authorization|proxyauthorization|cookie|setcookie|xapikey|apikey|apitoken|token|tokens|authtoken|ngrokauthtoken|secret|secrets|clientsecret|password|passwd|signingsecret|deliverysecret|webhooksigningsecret|lcsignature|webhooksignature|llamacloudapikey|gatewayapitokens|privatekey|accesstoken|refreshtoken|callbacktoken|sessiontoken)$/;

/** Patterns of secrets inside free text (messages, URLs, error strings). Exported for tests. */
export const SECRET_TEXT: readonly [RegExp, (match: string, ...groups: string[]) => string][] = [
  // Standard Webhooks secrets.
  [/whsec_[A-Za-z0-9+/=_-]{8,}/g, () => `whsec_${REDACTED}`],
  // Bearer / Basic credentials in header-like text.
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}/gi, (_m, scheme) => `${scheme} ${REDACTED}`],
  // LlamaCloud API keys.
  [/\bllx-[A-Za-z0-9_-]{8,}/g, () => `llx-${REDACTED}`],
  // The token in an issued callback URL authenticates the sender: keep a short prefix to
  // correlate, never the whole token.
  [
    /(\/v1\/callbacks\/[A-Za-z0-9_-]+\/)([A-Za-z0-9_-]{6})[A-Za-z0-9_-]{10,}/g,
    (_m, path, head) => `${path}${head}…`,
  ],
  // Credentials in URLs (userinfo) and secret-looking query parameters.
  [/(\b[a-z][a-z0-9+.-]*:\/\/)[^/\s:@]+:[^/\s@]+@/gi, (_m, scheme) => `${scheme}${REDACTED}@`],
  [
    /([?&](?:token|key|api_key|apikey|secret|signature|sig|authtoken|access_token)=)[^&#\s"']+/gi,
    (_m, head) => `${head}${REDACTED}`,
  ],
];

/**
 * Text none of {@link SECRET_TEXT}'s patterns can match lacks all of these (each pattern needs
 * one of them): most strings in events and log lines (ids, states, times) are let through after
 * this one test instead of six replacements.
 */
const MAYBE_SECRET_TEXT = /whsec_|bearer|basic|llx-|\/v1\/callbacks\/|:\/\/[^/\s]*@|[?&]/i;

const secretKeys = new Map<string, boolean>();
function isSecretKey(key: string): boolean {
  let secret = secretKeys.get(key);
  if (secret === undefined) {
    secret = SECRET_KEY.test(key.toLowerCase().replace(/[-_]/g, ''));
    // Keys come from code, a few dozen of them; a flood of odd keys only resets the memo.
    if (secretKeys.size >= 1_000) secretKeys.clear();
    secretKeys.set(key, secret);
  }
  return secret;
}

/** Removes secrets from values before they are logged or recorded. */
export interface Redactor {
  /** Masks the secrets that free text may carry. */
  redactText(text: string): string;
  /**
   * Returns a deep copy of `value` with secrets removed: values under secret-named keys are
   * replaced by {@link REDACTED}, and secret patterns inside strings are masked. Never throws;
   * cycles and very deep structures are cut.
   */
  redact<T>(value: T): T;
}

/** Options for {@link createRedactor}. */
export interface RedactorOptions {
  /**
   * Secret values known from configuration (API tokens, the ngrok authtoken, the LlamaCloud
   * key...). They are masked wherever they appear, even in text no pattern recognises.
   * Values shorter than 8 characters are ignored (they would mask ordinary words).
   */
  knownSecrets?: readonly (string | undefined)[];
}

/** Creates a {@link Redactor} that also masks the given known secret values. */
export function createRedactor(options: RedactorOptions = {}): Redactor {
  const known = [...new Set(options.knownSecrets ?? [])]
    .filter((secret): secret is string => typeof secret === 'string' && secret.length >= 8)
    .sort((a, b) => b.length - a.length);

  const redactText = (text: string): string => {
    let out = text;
    for (const secret of known) {
      if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    }
    if (!MAYBE_SECRET_TEXT.test(out)) return out;
    for (const [pattern, replace] of SECRET_TEXT) out = out.replace(pattern, replace);
    return out;
  };

  // `ancestors`: the objects being copied above this one (a cycle is cut where it closes; an
  // object met twice elsewhere in the tree is simply copied twice).
  const walk = (value: unknown, depth: number, ancestors: object[]): unknown => {
    if (typeof value === 'string') return redactText(value);
    if (value === null || typeof value !== 'object') return value;
    if (depth > 12 || ancestors.includes(value)) return '[Truncated]';
    if (value instanceof Error) {
      const copy: Record<string, unknown> = {
        type: value.name,
        message: redactText(value.message),
      };
      const code = (value as { code?: unknown }).code;
      if (typeof code === 'string') copy['code'] = code;
      if (value.stack) copy['stack'] = redactText(value.stack);
      return copy;
    }
    if (value instanceof Date || Buffer.isBuffer(value)) return value;
    ancestors.push(value);
    let out: unknown;
    if (Array.isArray(value)) {
      out = value.map((item) => walk(item, depth + 1, ancestors));
    } else {
      const copy: Record<string, unknown> = {};
      for (const key of Object.keys(value)) {
        const item = (value as Record<string, unknown>)[key];
        copy[key] =
          isSecretKey(key) && item !== undefined && item !== null && item !== ''
            ? REDACTED
            : walk(item, depth + 1, ancestors);
      }
      out = copy;
    }
    ancestors.pop();
    return out;
  };

  return { redactText, redact: <T>(value: T) => walk(value, 0, []) as T };
}

const defaultRedactor = createRedactor();

/** {@link Redactor.redactText} with no known secrets. */
export const redactText = defaultRedactor.redactText;

/** {@link Redactor.redact} with no known secrets. */
export const redact = defaultRedactor.redact;
