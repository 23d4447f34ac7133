import { z } from 'zod';
import { WebhookUrlError, type UrlSourceName } from './errors.js';
import { checkPublicBaseUrl } from './public-url-policy.js';
import { URL_SOURCES, type WebhookUrlResolverOptions } from './resolver-options.js';
import { VERIFICATION_DEPTHS } from './verify.js';

const show = (value: unknown) => (value === undefined ? 'nothing' : JSON.stringify(value));

/** Optional trimmed text; empty means unset. */
function optionalText(name: string, check?: (value: string) => string | undefined) {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const value = raw?.trim();
      if (!value) return undefined;
      const problem = check?.(value);
      if (problem) {
        ctx.addIssue({ code: 'custom', message: `${name}: ${problem}` });
        return z.NEVER;
      }
      return value;
    });
}

function integer(name: string, fallback: number, min: number, max: number) {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const text = raw?.trim();
      if (!text) return fallback;
      const value = Number(text);
      if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
        ctx.addIssue({
          code: 'custom',
          message: `${name}: expected an integer from ${min} to ${max}, got ${show(raw)}`,
        });
        return z.NEVER;
      }
      return value;
    });
}

function boolean(name: string, fallback: boolean) {
  return z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const text = raw?.trim().toLowerCase();
      if (!text) return fallback;
      if (['true', '1', 'yes', 'on'].includes(text)) return true;
      if (['false', '0', 'no', 'off'].includes(text)) return false;
      ctx.addIssue({
        code: 'custom',
        message: `${name}: expected true or false, got ${show(raw)}`,
      });
      return z.NEVER;
    });
}

/**
 * The environment variables of this library (an object schema: apps `.extend()` their own
 * config with its `shape`). Unknown keys are ignored here; the apps decide about them.
 * Every bad value yields a message that starts with the variable's name.
 */
export const webhookUrlEnvSchema = z.object({
  PUBLIC_BASE_URL: optionalText('PUBLIC_BASE_URL', (value) =>
    /^https?:\/\//i.test(value) ? undefined : `expected an https:// URL, got ${show(value)}`,
  ),
  NGROK_AUTHTOKEN: optionalText('NGROK_AUTHTOKEN'),
  NGROK_DOMAIN: optionalText('NGROK_DOMAIN', (value) =>
    /^(?!-)[a-z0-9.-]{1,253}$/i.test(value) && value.includes('.')
      ? undefined
      : `expected a bare domain name such as my-app.ngrok.app (no scheme, no path), got ${show(value)}`,
  ),
  WEBHOOK_URL_SOURCES: z
    .string()
    .optional()
    .transform((raw, ctx): UrlSourceName[] => {
      if (!raw?.trim()) return [...URL_SOURCES];
      const items = raw
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean);
      const unknown = items.filter((item) => !(URL_SOURCES as readonly string[]).includes(item));
      if (unknown.length > 0 || items.length === 0 || new Set(items).size !== items.length) {
        ctx.addIssue({
          code: 'custom',
          message: `WEBHOOK_URL_SOURCES: expected a comma list of distinct ${URL_SOURCES.join(', ')}, got ${show(raw)}`,
        });
        return z.NEVER;
      }
      return items as UrlSourceName[];
    }),
  WEBHOOK_URL_VERIFY: optionalText('WEBHOOK_URL_VERIFY', (value) =>
    (VERIFICATION_DEPTHS as readonly string[]).includes(value)
      ? undefined
      : `expected one of ${VERIFICATION_DEPTHS.join(', ')} (or unset for per-source defaults), got ${show(value)}`,
  ).transform((value) => value as (typeof VERIFICATION_DEPTHS)[number] | undefined),
  WEBHOOK_URL_DEADLINE_MS: integer('WEBHOOK_URL_DEADLINE_MS', 10_000, 100, 300_000),
  WEBHOOK_URL_ALLOW_INSECURE_HTTP: boolean('WEBHOOK_URL_ALLOW_INSECURE_HTTP', false),
  NGROK_HEALTH_INTERVAL_MS: integer('NGROK_HEALTH_INTERVAL_MS', 30_000, 1_000, 3_600_000),
  NGROK_RECONNECT_MAX_MS: integer('NGROK_RECONNECT_MAX_MS', 60_000, 1_000, 3_600_000),
  WEBHOOK_URL_CACHE_TTL_S: integer('WEBHOOK_URL_CACHE_TTL_S', 86_400, 1, 31_536_000),
  WEBHOOK_URL_PROBE_KEY: optionalText('WEBHOOK_URL_PROBE_KEY', (value) =>
    value.length >= 16 ? undefined : 'expected at least 16 characters (use a random secret)',
  ),
  GATEWAY_PORT: integer('GATEWAY_PORT', 8080, 1, 65_535),
  GATEWAY_HOST: optionalText('GATEWAY_HOST').transform((value) => value ?? '127.0.0.1'),
});

/** The parsed environment of this library. */
export type WebhookUrlEnv = z.infer<typeof webhookUrlEnvSchema>;

/**
 * Parses an environment record; throws `WEBHOOK_URL_CONFIG_INVALID` whose message lists every
 * bad variable by name.
 */
export function parseWebhookUrlEnv(
  env: Readonly<Record<string, string | undefined>>,
): WebhookUrlEnv {
  const parsed = webhookUrlEnvSchema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) =>
    issue.message.includes(':') ? issue.message : `${issue.path.join('.')}: ${issue.message}`,
  );
  throw new WebhookUrlError(
    'WEBHOOK_URL_CONFIG_INVALID',
    `Invalid webhook URL settings: ${problems.join('; ')}. See the webhook-url README for every variable.`,
  );
}

/** What the environment does not say: the process's own connections and sinks. */
export type WebhookUrlEnvDeps = Omit<
  WebhookUrlResolverOptions,
  | 'sources'
  | 'publicBaseUrl'
  | 'verify'
  | 'allowInsecureHttp'
  | 'probeKey'
  | 'deadlineMs'
  | 'cacheTtlSeconds'
  | 'gatewayPort'
  | 'gatewayHost'
  | 'ngrok'
> & {
  ngrok?: Omit<
    NonNullable<WebhookUrlResolverOptions['ngrok']>,
    'authtoken' | 'domain' | 'healthIntervalMs' | 'reconnectBackoff'
  >;
};

/**
 * Problems that need more than one variable to see (a PUBLIC_BASE_URL the public-URL policy
 * refuses, given WEBHOOK_URL_ALLOW_INSECURE_HTTP), each starting with the variable's name. Apps
 * run it at start-up, next to their own settings checks.
 */
export function checkWebhookUrlEnv(
  env: Pick<WebhookUrlEnv, 'PUBLIC_BASE_URL' | 'WEBHOOK_URL_ALLOW_INSECURE_HTTP'>,
  options: { callbackPathReserve?: number } = {},
): string[] {
  if (!env.PUBLIC_BASE_URL) return [];
  const checked = checkPublicBaseUrl(env.PUBLIC_BASE_URL, {
    allowInsecureHttp: env.WEBHOOK_URL_ALLOW_INSECURE_HTTP,
    ...(options.callbackPathReserve !== undefined && {
      callbackPathReserve: options.callbackPathReserve,
    }),
  });
  return checked.ok ? [] : [`PUBLIC_BASE_URL: ${checked.reason} (${checked.code})`];
}

/**
 * Builds resolver options from the parsed environment plus the process's dependencies. A
 * PUBLIC_BASE_URL the policy refuses is a configuration error here (at start-up), named.
 */
export function resolverOptionsFromEnv(
  env: WebhookUrlEnv,
  deps: WebhookUrlEnvDeps,
): WebhookUrlResolverOptions {
  if (env.PUBLIC_BASE_URL && env.WEBHOOK_URL_SOURCES.includes('cloud_config')) {
    const checked = checkPublicBaseUrl(env.PUBLIC_BASE_URL, {
      allowInsecureHttp: env.WEBHOOK_URL_ALLOW_INSECURE_HTTP,
      ...(deps.callbackPathReserve !== undefined
        ? { callbackPathReserve: deps.callbackPathReserve }
        : {}),
    });
    if (!checked.ok) {
      throw new WebhookUrlError(
        'WEBHOOK_URL_CONFIG_INVALID',
        `PUBLIC_BASE_URL is refused (${checked.code}): ${checked.reason}`,
        {
          cause: checked.error,
        },
      );
    }
  }
  return {
    ...deps,
    sources: env.WEBHOOK_URL_SOURCES,
    publicBaseUrl: env.PUBLIC_BASE_URL,
    verify: env.WEBHOOK_URL_VERIFY,
    allowInsecureHttp: env.WEBHOOK_URL_ALLOW_INSECURE_HTTP,
    probeKey: env.WEBHOOK_URL_PROBE_KEY,
    deadlineMs: env.WEBHOOK_URL_DEADLINE_MS,
    cacheTtlSeconds: env.WEBHOOK_URL_CACHE_TTL_S,
    gatewayPort: env.GATEWAY_PORT,
    gatewayHost: env.GATEWAY_HOST,
    ngrok: {
      ...deps.ngrok,
      authtoken: env.NGROK_AUTHTOKEN,
      domain: env.NGROK_DOMAIN,
      healthIntervalMs: env.NGROK_HEALTH_INTERVAL_MS,
      reconnectBackoff: { baseMs: 1_000, capMs: env.NGROK_RECONNECT_MAX_MS },
    },
  };
}
