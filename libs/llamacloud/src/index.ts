export {
  createLlamaCloudClient,
  DEFAULT_BASE_URL,
  DEFAULT_TIMEOUT_MS,
  type GetJobV2Options,
  type LlamaCloudClient,
  type LlamaCloudClientOptions,
  type ParseConfigurationV2,
  type ParseV2Input,
  type UploadFile,
  type UploadV1Input,
  type UploadV2Input,
  type WebhookConfiguration,
} from './client.js';
export {
  isLlamaCloudError,
  LLAMACLOUD_ERROR_CODES,
  LlamaCloudError,
  type LlamaCloudErrorCode,
  type LlamaCloudErrorOptions,
} from './errors.js';
export { isJobEnded, jobOutcome, type JobOutcome } from './job-outcome.js';
export {
  JOB_STATUSES_V1,
  JOB_STATUSES_V2,
  type JobMetadataV1,
  type JobResultV2,
  type JobStatusV1,
  type JobStatusV2,
  type JobV1,
  type JobV2,
  type JsonPageV1,
  type MarkdownPagesV2,
  type ResultKindV1,
  type ResultV1,
} from './wire.js';
export {
  checkParseTier,
  checkParseVersion,
  isKnownParseTier,
  LATEST_PARSE_VERSION,
  PARSE_TIERS,
  type KnownParseTier,
} from './parse-options.js';
