export { storeKeys, type StoreKeys } from './keys.js';
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
