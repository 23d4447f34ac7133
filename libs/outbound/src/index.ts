export {
  OUTBOUND_ERROR_CODES,
  OutboundRefusedError,
  createOutboundPolicy,
  type LookupAll,
  type OutboundErrorCode,
  type OutboundPolicy,
  type OutboundPolicyOptions,
} from './policy.js';
export { createGuardedAgent, guardedLookup } from './agent.js';
