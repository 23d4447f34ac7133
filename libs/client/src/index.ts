export {
  DEFAULT_TIMEOUT_MS,
  createGatewayClient,
  type AttachJobOptions,
  type CallOptions,
  type GatewayClient,
  type GatewayClientOptions,
  type RegisterInput,
} from './client.js';
export {
  DELIVERY_VERIFICATION_ERROR_CODES,
  DeliveryVerificationError,
  GATEWAY_CLIENT_ERROR_CODES,
  GatewayClientError,
  isDeliveryVerificationError,
  isGatewayClientError,
  type DeliveryVerificationErrorCode,
  type GatewayClientErrorCode,
  type GatewayClientErrorOptions,
  type WebhookUrlRefusal,
} from './errors.js';
export { parseRetryAfter, type FetchLike } from './http.js';
export {
  DELIVERY_TOLERANCE_SECONDS,
  verifyDelivery,
  type DeliveryHeaders,
  type VerifiedDelivery,
} from './verify-delivery.js';
export {
  REGISTRATION_STATES,
  type CallbackFormat,
  type Delivery,
  type DeliveryEnvelope,
  type ExtraFields,
  type ReceivedCallback,
  type RegistrationCreated,
  type RegistrationState,
  type RegistrationView,
} from './wire.js';
