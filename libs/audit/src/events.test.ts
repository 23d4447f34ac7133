import { describe, expect, it } from 'vitest';
import { AUDIT_EVENT_TYPES, auditEventSchema, type AuditEventInput } from './events.js';
import { memoryAuditLog } from './testing.js';

/** One valid input per type: the list must grow with the schema (checked below). */
const samples: { [K in (typeof AUDIT_EVENT_TYPES)[number]]: AuditEventInput<K>['data'] } = {
  'tunnel.up': { provider: 'ngrok', url: 'https://abc.ngrok.app' },
  'tunnel.down': { provider: 'ngrok', phase: 'start_failed', reason: 'failed to connect' },
  'webhook_url.resolved': {
    base_url: 'https://hooks.example.com',
    source: 'cloud_config',
    verified_by: 'dns',
    insecure: false,
    duration_ms: 3,
  },
  'webhook_url.refused': {
    reasons: [{ source: 'ngrok', code: 'WEBHOOK_URL_NO_SOURCE', reason: 'not configured' }],
    duration_ms: 1,
  },
  'webhook_url.changed': {
    old_url: 'https://a.ngrok.app',
    new_url: 'https://b.ngrok.app',
    source: 'ngrok',
  },
  'registration.created': {
    source: 'llamaparse',
    deliver_to_origin: 'https://pipeline.example.com',
    callback_base_url: 'https://hooks.example.com',
    expires_at: '2026-11-22T08:00:00.000Z',
  },
  'registration.updated': { fields: ['parse_job_id'] },
  'parse.submitted': {
    submission_id: 'sub_0123',
    api: 'v2',
    tier: 'cost_effective',
    version: 'latest',
  },
  'callback.received': {
    format: 'event',
    event_type: 'parse.success',
    bytes: 120,
    signature: 'verified',
  },
  'callback.duplicate': { dedup_key: 'event:149744dd' },
  'callback.rejected': {
    code: 'CALLBACK_BAD_SIGNATURE',
    status: 401,
    reason: 'signature mismatch',
  },
  'callback.overdue': { deadline: '2026-11-22T08:00:00.000Z', waited_s: 3600 },
  'callback.reconciled': { parser_status: 'COMPLETED', via: 'GET /api/v2/parse/{job_id}' },
  'delivery.attempted': { attempt: 1, destination_origin: 'https://pipeline.example.com' },
  'delivery.succeeded': { attempt: 1, status: 200, latency_ms: 12 },
  'delivery.failed': {
    attempt: 2,
    status: 503,
    reason: 'Service Unavailable',
    latency_ms: 30,
    will_retry: true,
  },
  'delivery.dead_lettered': { attempts: 9, last_error: 'HTTP 500' },
  'delivery.replayed': { from_state: 'dead_lettered', bulk: false },
  'breaker.state_changed': {
    destination_origin: 'https://pipeline.example.com',
    from: 'closed',
    to: 'open',
    reason: '10 consecutive failures',
  },
};

describe('audit event schema', () => {
  it('has a sample for every event type the product records', () => {
    expect(Object.keys(samples).sort()).toEqual([...AUDIT_EVENT_TYPES].sort());
    for (const required of [
      'tunnel.up',
      'tunnel.down',
      'webhook_url.resolved',
      'webhook_url.refused',
      'webhook_url.changed',
      'registration.created',
      'parse.submitted',
      'callback.received',
      'callback.duplicate',
      'callback.rejected',
      'delivery.attempted',
      'delivery.succeeded',
      'delivery.failed',
      'delivery.dead_lettered',
      'delivery.replayed',
      'callback.overdue',
      'callback.reconciled',
    ]) {
      expect(AUDIT_EVENT_TYPES).toContain(required);
    }
  });

  it('accepts a valid event of every type with id, time, actor, correlation and version', () => {
    const audit = memoryAuditLog();
    for (const type of AUDIT_EVENT_TYPES) {
      const event = audit.record({
        type,
        correlation: { registration_id: 'reg_1', tunnel_session_id: 'ts_1' },
        data: samples[type],
      } as AuditEventInput);
      expect(event?.v).toBe(1);
      expect(event?.type).toBe(type);
      expect(event?.correlation.registration_id).toBe('reg_1');
    }
    expect(audit.events).toHaveLength(AUDIT_EVENT_TYPES.length);
  });

  it('takes a callback.rejected record that stands for many rejections from one address', () => {
    const audit = memoryAuditLog();
    const data = {
      code: 'not_found',
      status: 404,
      reason: 'unknown or expired callback URL',
      source_address: '203.0.113.9',
      count: 499,
      since: '2026-11-22T08:00:00.000Z',
    };
    expect(audit.record({ type: 'callback.rejected', data })?.data).toEqual(data);
    // The in-memory log throws where the real one counts and drops.
    expect(() =>
      audit.record({ type: 'callback.rejected', data: { ...data, count: 0 } }),
    ).toThrow();
    expect(() =>
      audit.record({ type: 'callback.rejected', data: { ...data, since: 'a minute ago' } }),
    ).toThrow();
  });

  it('refuses an unknown type, a wrong payload and extra fields', () => {
    const base = {
      v: 1,
      id: 'x',
      at: new Date().toISOString(),
      actor: { kind: 'system', id: 'gateway' },
      correlation: {},
    };
    expect(
      auditEventSchema.safeParse({ ...base, type: 'callback.vanished', data: {} }).success,
    ).toBe(false);
    expect(
      auditEventSchema.safeParse({
        ...base,
        type: 'delivery.succeeded',
        data: { attempt: 0, status: 200, latency_ms: 1 },
      }).success,
    ).toBe(false);
    expect(
      auditEventSchema.safeParse({
        ...base,
        type: 'registration.updated',
        data: { fields: ['x'], delivery_secret: 'whsec_abc' },
      }).success,
    ).toBe(false);
    expect(
      auditEventSchema.safeParse({
        ...base,
        v: 2,
        type: 'registration.updated',
        data: { fields: [] },
      }).success,
    ).toBe(false);
  });
});
