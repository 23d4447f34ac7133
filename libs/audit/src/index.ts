export {
  AUDIT_EVENT_TYPES,
  AUDIT_SCHEMA_VERSION,
  actorSchema,
  auditEventSchema,
  auditPayloads,
  correlationSchema,
  type Actor,
  type AuditEvent,
  type AuditEventInput,
  type AuditEventType,
  type Correlation,
} from './events.js';
export {
  AuditPartialWriteError,
  createAuditLog,
  type AuditLog,
  type AuditSink,
  type CreateAuditLogOptions,
  type ManagedAuditLog,
} from './audit-log.js';
export {
  createRedisAuditStore,
  logAuditSink,
  type AuditQuery,
  type RedisAuditStore,
  type RedisAuditStoreOptions,
} from './sinks.js';
export { createLogger, type CreateLoggerOptions, type Logger } from './logger.js';
export {
  REDACTED,
  createRedactor,
  redact,
  redactText,
  type Redactor,
  type RedactorOptions,
} from './redact.js';
