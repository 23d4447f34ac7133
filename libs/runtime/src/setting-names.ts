/**
 * Every environment variable the product reads, across all its processes. Each process
 * accepts the others' variables (one environment can serve `npm start`), refuses unknown ones
 * with a product prefix (typos), and the README documents every name listed here (a test
 * checks both).
 */
export const SETTING_NAMES = [
  'REDIS_URL',
  'LOG_LEVEL',
  'GATEWAY_HOST',
  'GATEWAY_PORT',
  'GATEWAY_API_TOKENS',
  'GATEWAY_BODY_LIMIT_BYTES',
  'GATEWAY_UPLOAD_LIMIT_BYTES',
  'GATEWAY_REGISTRATION_TTL_S',
  'GATEWAY_EXPECT_CALLBACK_WITHIN_S',
  'WORKER_HOST',
  'WORKER_PORT',
  'WORKER_HEARTBEAT_INTERVAL_MS',
  'WORKER_HEARTBEAT_DEGRADED_MS',
  'WORKER_HEARTBEAT_DEAD_MS',
  'PUBLIC_BASE_URL',
  'NGROK_AUTHTOKEN',
  'NGROK_DOMAIN',
  'NGROK_HEALTH_INTERVAL_MS',
  'WEBHOOK_URL_SOURCES',
  'WEBHOOK_URL_VERIFY',
  'WEBHOOK_URL_DEADLINE_MS',
  'WEBHOOK_URL_ALLOW_INSECURE_HTTP',
  'WEBHOOK_URL_CACHE_TTL_S',
  'WEBHOOK_URL_PROBE_KEY',
  'OUTBOUND_ALLOW',
  'DELIVERY_RETRY_SCHEDULE',
  'WORKER_CONCURRENCY',
  'DELIVERY_TIMEOUT_MS',
  'DELIVERY_CONNECT_TIMEOUT_MS',
  'DELIVERY_HEADERS_TIMEOUT_MS',
  'DELIVERY_MAX_CLIENT_ERROR_ATTEMPTS',
  'DELIVERY_LOCK_DURATION_MS',
  'DELIVERY_BREAKER_FAILURES',
  'DELIVERY_BREAKER_OPEN_MS',
  'LLAMA_CLOUD_BASE_URL',
  'LLAMA_CLOUD_API_KEY',
  'AUDIT_STREAM_MAX_LENGTH',
  'SHUTDOWN_DEADLINE_MS',
] as const;

export type SettingName = (typeof SETTING_NAMES)[number];

/** Prefixes the product owns: an unknown variable with one of them is a typo. */
export const OWNED_PREFIXES = [
  'GATEWAY_',
  'WORKER_',
  'WEBHOOK_URL_',
  'NGROK_',
  'DELIVERY_',
  'OUTBOUND_',
  'LLAMA_CLOUD_',
  'AUDIT_',
] as const;
