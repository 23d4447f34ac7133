/**
 * Test doubles: a local fake of LlamaCloud's parse APIs that speaks the documented wire format
 * and sends callbacks the way LlamaCloud does.
 */
export { DEFAULT_FAILURE_CODE, startLlamaCloudFake } from './fake/server.js';
export { WEBHOOK_USER_AGENT } from './fake/callbacks.js';
export { checkWebhookUrl, MAX_WEBHOOK_URL_LENGTH } from './fake/validation.js';
export { DEFAULT_VERSIONS, type FakeVersions } from './fake/versions.js';
export type {
  CannedAnswer,
  LlamaCloudFake,
  LlamaCloudFakeOptions,
  FakeApi,
  FakeCallback,
  FakeCallbackAttempt,
  FakeImage,
  FakeJob,
  FakeJobState,
  FakePage,
  FakeParseResult,
  FakeRequest,
  FakeSubmission,
  FakeWebhook,
  FakeWebhookConfig,
} from './fake/types.js';
