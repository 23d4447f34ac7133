export {
  createLlamaCloudClient,
  DEFAULT_BASE_URL,
  DEFAULT_TIMEOUT_MS,
  type CreateJobParams,
  type JobsPage,
  type ListJobsParams,
  type LlamaCloudClient,
  type LlamaCloudClientOptions,
  type UploadFile,
  type UploadV1Input,
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
  checkParseTier,
  checkParseVersion,
  isKnownParseTier,
  LATEST_PARSE_VERSION,
  PARSE_END_EVENTS,
  PARSE_TIERS,
  type KnownParseTier,
} from './parse-options.js';
export {
  JOB_STATUSES_V1,
  JOB_STATUSES_V2,
  type JobMetadataV1,
  type JobStatusV1,
  type JobStatusV2,
  type JobV1,
  type JobV2,
  type JsonPageV1,
  type ResultKindV1,
  type ResultV1,
} from './responses.js';
