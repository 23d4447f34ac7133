import type { AuditLog } from './audit-log.js';
import {
  AUDIT_SCHEMA_VERSION,
  auditEventSchema,
  type AuditEvent,
  type AuditEventInput,
  type AuditEventType,
} from './events.js';
import { redact } from './redact.js';

/** An in-memory audit log for tests: validates like the real one and keeps every event. */
export interface MemoryAuditLog extends AuditLog {
  readonly events: AuditEvent[];
  ofType<T extends AuditEventType>(type: T): AuditEvent<T>[];
}

/** Creates a {@link MemoryAuditLog}. Invalid events throw here, so tests see schema bugs. */
export function memoryAuditLog(): MemoryAuditLog {
  const events: AuditEvent[] = [];
  let sequence = 0;
  const prepare = <T extends AuditEventType>(input: AuditEventInput<T>) =>
    auditEventSchema.parse(
      redact({
        v: AUDIT_SCHEMA_VERSION,
        id: `memory-${++sequence}`,
        at: (input.at ?? new Date()).toISOString(),
        type: input.type,
        actor: input.actor ?? { kind: 'system', id: 'test' },
        correlation: input.correlation ?? {},
        data: input.data,
      }),
    ) as AuditEvent<T>;
  return {
    events,
    record<T extends AuditEventType>(input: AuditEventInput<T>) {
      const event = prepare(input);
      events.push(event);
      return event;
    },
    prepare,
    publish(event: AuditEvent) {
      events.push(event);
    },
    ofType<T extends AuditEventType>(type: T) {
      return events.filter((event): event is AuditEvent<T> => event.type === type);
    },
  };
}
