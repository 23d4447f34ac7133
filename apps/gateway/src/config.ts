import {
  OWNED_PREFIXES,
  parseAllowEntry,
  commonSettingsShape,
  SETTING_NAMES,
  envBool,
  envInt,
  envList,
  parseSettings,
  storePartitionsOf,
  checkRedisTarget,
} from '@callback-gateway/runtime';
import { checkNotifySettings, notifyEnvShape } from '@callback-gateway/notify';
import {
  callbackPathReserveFor,
  checkWebhookUrlEnv,
  webhookUrlEnvSchema,
} from '@callback-gateway/webhook-url';
import { z } from 'zod';

/** One `GATEWAY_TRUSTED_PROXIES` entry: an IP address or a CIDR block (Fastify's `trustProxy`
 * matches the peer's address: a host name would never match). */
function checkProxyAddress(item: string): string | undefined {
  const entry = parseAllowEntry(item);
  if (typeof entry === 'string') return entry;
  if (entry.kind === 'host' || entry.kind === 'suffix') {
    return "expected a proxy's IP address or a CIDR block such as 10.0.0.0/8, not a host name";
  }
  if (entry.port !== undefined) return 'a proxy is trusted by its address alone: drop the :port';
  return undefined;
}

/** The gateway's environment variables (documented in the README under "Configuration"). */
export const gatewaySettingsSchema = webhookUrlEnvSchema.extend({
  ...commonSettingsShape,
  ...notifyEnvShape,
  GATEWAY_HOST: z
    .string()
    .trim()
    .optional()
    .transform((value) => (value ? value : '127.0.0.1')),
  GATEWAY_PORT: envInt({ default: 8080, min: 0, max: 65_535 }),
  GATEWAY_API_TOKENS: envList({
    item: (token) =>
      token.length < 16 ? 'each token must be at least 16 characters long' : undefined,
  }),
  GATEWAY_BODY_LIMIT_BYTES: envInt({
    default: 10 * 1024 * 1024,
    min: 1024,
    max: 100 * 1024 * 1024,
  }),
  GATEWAY_CALLBACK_INFLIGHT_BYTES: envInt({
    default: 32 * 1024 * 1024,
    min: 1024,
    max: 4 * 1024 * 1024 * 1024,
  }),
  GATEWAY_UPLOAD_LIMIT_BYTES: envInt({
    default: 50 * 1024 * 1024,
    min: 1024,
    max: 512 * 1024 * 1024,
  }),
  GATEWAY_INTAKE_LINGER_MS: envInt({ default: 2, min: 0, max: 100 }),
  GATEWAY_ACK_REPLICAS: envInt({ default: 0, min: 0, max: 16 }),
  GATEWAY_ACK_REPLICAS_TIMEOUT_MS: envInt({ default: 1_000, min: 10, max: 60_000 }),
  GATEWAY_TRUSTED_PROXIES: envList({ item: checkProxyAddress }),
  GATEWAY_LOCAL_ONLY: envBool({ default: false }),
});

/** Validated, frozen gateway settings. */
export type GatewayConfig = Readonly<z.output<typeof gatewaySettingsSchema>>;

/** Parses the environment once; throws a `SettingsError` naming every bad variable. */
export function loadGatewayConfig(
  env: Readonly<Record<string, string | undefined>>,
): GatewayConfig {
  return parseSettings(gatewaySettingsSchema, env, {
    ownedPrefixes: OWNED_PREFIXES,
    alsoKnown: SETTING_NAMES,
    check: (settings: z.output<typeof gatewaySettingsSchema>) => [
      ...checkWebhookUrlEnv(settings, {
        callbackPathReserve: callbackPathReserveFor(storePartitionsOf(settings)),
      }),
      ...checkNotifySettings(settings),
      ...checkRedisTarget(settings),
      ...(settings.GATEWAY_LOCAL_ONLY && (settings.PUBLIC_BASE_URL || settings.NGROK_AUTHTOKEN)
        ? [
            'GATEWAY_LOCAL_ONLY: local-only mode is for a machine without a public callback URL, but PUBLIC_BASE_URL or NGROK_AUTHTOKEN is set: unset GATEWAY_LOCAL_ONLY to issue public callback URLs, or unset them to try the API on this machine',
          ]
        : []),
      ...(settings.GATEWAY_CALLBACK_INFLIGHT_BYTES < settings.GATEWAY_BODY_LIMIT_BYTES
        ? [
            `GATEWAY_CALLBACK_INFLIGHT_BYTES: must be at least GATEWAY_BODY_LIMIT_BYTES (${settings.GATEWAY_BODY_LIMIT_BYTES}), or a callback of the largest size allowed could never be taken`,
          ]
        : []),
    ],
  });
}
