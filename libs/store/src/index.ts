export {
  MAX_PARTITIONS,
  auditPartitionsOf,
  QUEUES,
  inPartition,
  partitionOf,
  partitionTag,
  storeKeys,
  withoutPartition,
  type ParseSubmissionJob,
  type StoreKeys,
  type StoreKeysOptions,
} from './keys.js';
export {
  CALLBACK_TOKEN_LENGTH,
  PARSE_APIS,
  REGISTRATION_STATES,
  createRegistrationStore,
  hashToken,
  isCallbackToken,
  newCallbackToken,
  newRegistrationId,
  type NewRegistration,
  type ParseApi,
  type Registration,
  type RegistrationState,
  type RegistrationStore,
  type RegistrationStoreOptions,
} from './registrations.js';
export {
  NotReplicatedError,
  createIntake,
  type IncomingCallback,
  type Intake,
  type IntakeOptions,
  type IntakeResult,
} from './intake.js';
export {
  decodeCallbackRecord,
  decodeCallbackRecordBytes,
  encodeCallbackRecord,
  parseCallbackHeader,
  type CallbackHeader,
  type CallbackRecord,
  type DeliverableCallback,
} from './callback-record.js';
export {
  createDeliveryBatches,
  type AttemptOutcome,
  type DeliveryBatches,
  type DeliveryBatchesOptions,
  type DeliveryTarget,
  type IngestEntry,
  type JobDelivery,
  type EntryOwnership,
  type DeliveryStep,
} from './delivery-batches.js';
export { groupCommit, type GroupCommitOptions } from './group-commit.js';
export {
  DELIVERY_STATES,
  DELIVERY_SUMMARY_FIELDS,
  createDeliveryStore,
  deliveryFromHash,
  type Delivery,
  type DeliveryAttempt,
  type DeliveryState,
  type DeliveryStore,
  type DeliveryStoreOptions,
  type StoredCallback,
} from './deliveries.js';
export {
  issueRegistration,
  type IssuedRegistration,
  type IssuingBase,
  type RegistrationRequest,
} from './issue.js';
export {
  SUBMISSION_STATES,
  createSubmissionStore,
  type NewSubmission,
  type Submission,
  type SubmissionState,
  type SubmissionStore,
} from './submissions.js';
export {
  DESTINATION_WINDOW_MS,
  HISTORY_BUCKET_MS,
  HISTORY_COARSE_BUCKET_MS,
  HISTORY_COUNTERS,
  HISTORY_RETENTION_MS,
  LATENCY_EDGES_MS,
  createHistoryRecorder,
  destinationLabel,
  latencyField,
  latencyQuantile,
  minuteOf,
  oldestWaitingSeconds,
  readDestinationActivity,
  readHistory,
  type DestinationActivity,
  type HistoryCounter,
  type HistoryMinute,
  type HistoryRecorder,
  type HistoryRecorderOptions,
  type WaitingJobs,
} from './history.js';
export {
  BREAKER_RECORDS_MAX,
  readBreakers,
  recordBreakerTransition,
  type BreakerRecord,
} from './breakers.js';
export { readAcrossPartitions } from './partitioned.js';
