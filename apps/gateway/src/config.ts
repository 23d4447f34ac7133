import {
  OWNED_PREFIXES,
  checkHostOrCidr,
  SETTING_NAMES,
  envEnum,
  envInt,
  envList,
  envUrl,
  parseSettings,
} from '@callback-gateway/runtime';
import { checkWebhookUrlEnv, webhookUrlEnvSchema } from '@callback-gateway/webhook-url';
import { z } from 'zod';

/** The gateway's environment variables (documented in the README under "Configuration"). */
export const gatewaySettingsSchema = webhookUrlEnvSchema.extend({
  REDIS_URL: envUrl({ default: 'redis://127.0.0.1:6379', protocols: ['redis', 'rediss'] }),
  LOG_LEVEL: envEnum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], {
    default: 'info',
  }),
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
  OUTBOUND_ALLOW: envList({ item: checkHostOrCidr }),
  GATEWAY_BODY_LIMIT_BYTES: envInt({
    default: 10 * 1024 * 1024,
    min: 1024,
    max: 100 * 1024 * 1024,
  }),
  GATEWAY_UPLOAD_LIMIT_BYTES: envInt({
    default: 50 * 1024 * 1024,
    min: 1024,
    max: 512 * 1024 * 1024,
  }),
  GATEWAY_REGISTRATION_TTL_S: envInt({ default: 7 * 86_400, min: 60, max: 90 * 86_400 }),
  GATEWAY_EXPECT_CALLBACK_WITHIN_S: envInt({ default: 3_600, min: 1, max: 30 * 86_400 }),
  AUDIT_STREAM_MAX_LENGTH: envInt({ default: 100_000, min: 100 }),
  SHUTDOWN_DEADLINE_MS: envInt({ default: 10_000, min: 100, max: 600_000 }),
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
    check: checkWebhookUrlEnv,
  });
}
