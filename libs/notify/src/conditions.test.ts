import { AUDIT_EVENT_TYPES } from '@callback-gateway/audit';
import { describe, expect, it } from 'vitest';
import { auditEvent } from '../test/helpers.js';
import {
  GATEWAY_CONDITIONS,
  NOTIFY_CONDITIONS,
  WORKER_CONDITIONS,
  signalOf,
} from './conditions.js';

describe('signalOf', () => {
  it('opens "pipeline failing" per destination origin when a breaker opens, and clears it when it closes', () => {
    const change = (to: 'open' | 'closed' | 'half_open') =>
      signalOf(
        auditEvent({
          type: 'breaker.state_changed',
          data: { destination_origin: 'https://p.example.com', from: 'closed', to, reason: 'x' },
        }),
      );
    expect(change('open')).toMatchObject({
      kind: 'open',
      condition: 'pipeline_failing',
      key: 'pipeline_failing:https://p.example.com',
    });
    expect(change('closed')).toMatchObject({
      kind: 'clear',
      key: 'pipeline_failing:https://p.example.com',
    });
    expect(change('half_open')).toBeUndefined();
  });

  it('reports a dead letter and an overdue callback as facts keyed by registration', () => {
    expect(
      signalOf(
        auditEvent({
          type: 'delivery.dead_lettered',
          correlation: { registration_id: 'reg_1', delivery_id: 'cb_1' },
          data: { attempts: 9, last_error: 'HTTP 503' },
        }),
      ),
    ).toMatchObject({ kind: 'fact', key: 'delivery_dead_lettered:reg_1', item: 'reg_1' });
    expect(
      signalOf(
        auditEvent({
          type: 'callback.overdue',
          correlation: { registration_id: 'reg_2' },
          data: { deadline: '2026-01-01T00:00:00.000Z', waited_s: 10 },
        }),
      ),
    ).toMatchObject({ kind: 'fact', key: 'callbacks_overdue:reg_2', item: 'reg_2' });
  });

  it('keeps one public URL condition whatever the purpose of the failed resolution', () => {
    const refused = (purpose: string) =>
      signalOf(
        auditEvent({ type: 'webhook_url.refused', data: { reasons: [], duration_ms: 1, purpose } }),
      );
    expect(refused('start-up')?.key).toBe(refused('registration')?.key);
  });

  it('ignores a tunnel closed on purpose and events that say nothing operational', () => {
    expect(
      signalOf(
        auditEvent({
          type: 'tunnel.down',
          data: { provider: 'ngrok', phase: 'closed', reason: 'close()' },
        }),
      ),
    ).toBeUndefined();
    expect(
      signalOf(
        auditEvent({
          type: 'delivery.succeeded',
          correlation: { delivery_id: 'cb_1' },
          data: { attempt: 1, status: 200, latency_ms: 3 },
        }),
      ),
    ).toBeUndefined();
  });

  it('splits the conditions between gateway and worker without overlap or gap', () => {
    expect([...GATEWAY_CONDITIONS, ...WORKER_CONDITIONS].sort()).toEqual(
      [...NOTIFY_CONDITIONS].sort(),
    );
  });

  it('maps only audit event types that exist', () => {
    const mapped = [
      'delivery.dead_lettered',
      'breaker.state_changed',
      'callback.overdue',
      'webhook_url.refused',
      'webhook_url.resolved',
      'webhook_url.changed',
      'tunnel.down',
      'tunnel.up',
    ];
    for (const type of mapped) expect(AUDIT_EVENT_TYPES).toContain(type);
  });
});
