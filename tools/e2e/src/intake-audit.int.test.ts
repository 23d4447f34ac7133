import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { until, useE2eWorld } from './stack.js';

interface AuditRecord {
  id: string;
  type: string;
  correlation: Record<string, string>;
  data: Record<string, unknown>;
}

describe('the audit trail under a flood of callbacks to unknown tokens, end to end', () => {
  // A short audit stream, so that records written one by one would push the history out.
  const world = useE2eWorld({ env: { AUDIT_STREAM_MAX_LENGTH: '100' } });

  const auditTrail = async (): Promise<AuditRecord[]> => {
    const store = new Redis(world.redis.url);
    try {
      const entries = await store.xrange('{cbgw}:audit:events', '-', '+');
      return entries.map(([, fields]) => JSON.parse(fields[fields.indexOf('e') + 1] ?? '{}'));
    } finally {
      store.disconnect();
    }
  };
  const anonymous = (trail: AuditRecord[]) =>
    trail.filter(
      (record) => record.type === 'callback.rejected' && !record.correlation['registration_id'],
    );

  it('records 500 refusals from one address as a couple of records with their count, and keeps the history', async () => {
    // History: a registration, and a refused callback of it (recorded on its own, as before).
    const strict = await world.client().register({
      deliverTo: world.pipeline.url('/strict'),
      requireSignature: true,
    });
    const unsigned = await fetch(
      `${world.stack.gatewayUrl}${new URL(strict.callbackUrl).pathname}`,
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"md":"x"}' },
    );
    expect(unsigned.status).toBe(401);
    const history = (trail: AuditRecord[]) =>
      trail.filter(
        (record) =>
          record.correlation['registration_id'] === strict.id &&
          ['registration.created', 'callback.rejected'].includes(record.type),
      );
    await until(async () => history(await auditTrail()).length === 2);

    // 500 callbacks to unknown tokens from 127.0.0.1, ten at a time.
    let sent = 0;
    const statuses: number[] = [];
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (sent < 500) {
          const token = `guess${String(sent++).padStart(38, '0')}`;
          const response = await fetch(
            `${world.stack.gatewayUrl}/v1/callbacks/llamaparse/${token}`,
            {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: '{"event_id":"e","event_type":"parse.success"}',
            },
          );
          statuses.push(response.status);
        }
      }),
    );
    expect(statuses.filter((status) => status === 404)).toHaveLength(500);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const during = await auditTrail();
    expect(history(during)).toHaveLength(2);
    expect(anonymous(during)).toHaveLength(1);
    expect(anonymous(during)[0]?.data).toMatchObject({
      code: 'not_found',
      status: 404,
      source_address: '127.0.0.1',
      count: 1,
    });

    // The rest of the minute is recorded at the latest when the gateway stops.
    await world.stack.gateway.stop();
    await until(async () => anonymous(await auditTrail()).length === 2);
    const after = await auditTrail();
    expect(anonymous(after).map((record) => record.data['count'])).toEqual([1, 499]);
    expect(anonymous(after)[1]?.data['source_address']).toBe('127.0.0.1');
    expect(history(after)).toHaveLength(2);
  });
});
