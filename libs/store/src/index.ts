export { QUEUES, storeKeys, type ParseSubmissionJob, type StoreKeys } from './keys.js';
export {
  CALLBACK_TOKEN_LENGTH,
  REGISTRATION_STATES,
  createRegistrationStore,
  hashToken,
  newCallbackToken,
  newRegistrationId,
  type NewRegistration,
  type Registration,
  type RegistrationState,
  type RegistrationStore,
  type RegistrationStoreOptions,
} from './registrations.js';
export {
  createIntake,
  type IncomingCallback,
  type Intake,
  type IntakeOptions,
  type IntakeResult,
} from './intake.js';
export {
  DELIVERY_STATES,
  createDeliveryStore,
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
