export {
  WEBHOOK_URL_ERROR_CODES,
  WebhookUrlError,
  WebhookUrlResolveError,
  isWebhookUrlError,
  type SourceRefusal,
  type UrlSourceName,
  type WebhookUrlErrorCode,
  type WebhookUrlErrorOptions,
} from './errors.js';
export { classifyAddress, isPublicAddress, type AddressCategory } from './ip-address.js';
export {
  CALLBACK_PATH_PREFIX,
  CALLBACK_PATH_RESERVE,
  callbackPathReserveFor,
  CALLBACK_TOKEN_LENGTH,
  MAX_CALLBACK_URL_LENGTH,
  RESERVED_NAME_SUFFIXES,
  assertPublicBaseUrl,
  checkPublicBaseUrl,
  type PublicBaseUrl,
  type PublicUrlCheck,
  type PublicUrlPolicyOptions,
} from './public-url-policy.js';
export {
  VERIFICATION_DEPTHS,
  systemLookup,
  verifyHostAddresses,
  verifyPublicBaseUrl,
  type LookupAddress,
  type LookupFunction,
  type VerificationDepth,
  type VerifiedBaseUrl,
  type VerifyOptions,
} from './verify.js';
export {
  PROBE_PATH,
  answerProbe,
  probeProof,
  probePublicBaseUrl,
  type ProbeAnswer,
  type ProbeOptions,
} from './probe.js';
export {
  classifyNgrokError,
  type NgrokDisconnect,
  type NgrokForward,
  type NgrokForwardConfig,
  type NgrokListener,
} from './ngrok-sdk.js';
export { TUNNEL_STATES, type TunnelState } from './metrics.js';
export {
  URL_SOURCES,
  type NgrokOptions,
  type ResolveOptions,
  type WebhookUrlResolution,
  type WebhookUrlResolver,
  type WebhookUrlResolverOptions,
  type WebhookUrlStatus,
} from './resolver-options.js';
export { createWebhookUrlResolver } from './resolver.js';
export {
  DEFAULT_CACHE_KEY,
  readCachedResolution,
  type CacheRedis,
  type CachedResolution,
} from './url-cache.js';
export {
  checkWebhookUrlEnv,
  parseWebhookUrlEnv,
  resolverOptionsFromEnv,
  webhookUrlEnvSchema,
  type WebhookUrlEnv,
  type WebhookUrlEnvDeps,
} from './env.js';
export { DEFAULT_PROBE_KEY_KEY, sharedProbeKey } from './probe-key.js';
