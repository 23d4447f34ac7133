import { createAuditLog, type AuditEvent } from '@callback-gateway/audit';
import { createOutboundPolicy } from '@callback-gateway/outbound';
import { systemClock, type Clock } from '@callback-gateway/runtime';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import {
  auditEvent,
  captureLogger,
  manualClock,
  newSecret,
  outcomes,
  startSlackReceiver,
  startWebhookReceiver,
  until,
  type Answer,
  type Receiver,
} from '../test/helpers.js';
import { createNotifier } from './notifier.js';
import type { Notifier, NotifierOptions } from './options.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A notifier with one webhook and one Slack receiver on loopback (allowed by OUTBOUND_ALLOW). */
async function setup(
  options: Partial<NotifierOptions> & { webhookAnswer?: Answer; slackAnswer?: Answer } = {},
) {
  const secret = newSecret();
  const webhook = await startWebhookReceiver(secret, options.webhookAnswer);
  const slack = await startSlackReceiver(options.slackAnswer);
  const slackUrl = `${slack.url}/services/T0000/B0000/slackTokenPart0123456789`;
  const registry = new Registry();
  const log = captureLogger();
  const notifier = createNotifier({
    source: 'worker',
    webhookUrls: [`${webhook.url}/ops`],
    webhookSecret: secret,
    slackUrls: [slackUrl],
    policy: createOutboundPolicy({ allow: ['127.0.0.1'] }),
    logger: log.logger,
    registry,
    batchWindowMs: 50,
    retry: { attempts: 3, baseDelayMs: 20 },
    ...options,
  });
  cleanups.push(async () => {
    await notifier.close(1_000);
    await webhook.close();
    await slack.close();
  });
  return { secret, webhook, slack, slackUrl, registry, log, notifier };
}

const breaker = (origin: string, from: 'closed' | 'open' | 'half_open', to: typeof from) =>
  auditEvent({
    type: 'breaker.state_changed',
    data: { destination_origin: origin, from, to, reason: '5 consecutive failures' },
  });

async function feed(notifier: Notifier, ...events: AuditEvent[]) {
  await notifier.sink.write(events);
  await notifier.flush(5_000);
}

const types = (receiver: Receiver) => receiver.received.map((r) => r.json['type']);

describe('notifier, against receivers on loopback', () => {
  it('sends one signed "pipeline failing" message to the webhook and one Slack message when a breaker opens', async () => {
    const { webhook, slack, notifier, registry } = await setup();
    // Through the real audit log, as the apps wire it.
    const audit = createAuditLog({
      actor: { kind: 'system', id: 'worker' },
      sinks: [notifier.sink],
      logger: captureLogger().logger,
    });
    audit.record({
      type: 'breaker.state_changed',
      data: {
        destination_origin: 'https://pipeline.example.com',
        from: 'closed',
        to: 'open',
        reason: '5 consecutive failures',
      },
    });
    await audit.close();
    await notifier.flush();

    expect(webhook.problems).toEqual([]);
    expect(webhook.accepted).toHaveLength(1);
    const body = webhook.accepted[0]?.json ?? {};
    expect(body).toMatchObject({
      type: 'operational.pipeline_failing.opened',
      severity: 'critical',
      title: 'Pipeline failing: https://pipeline.example.com',
      condition_key: 'pipeline_failing:https://pipeline.example.com',
      source: 'worker',
      details: { destination_origin: 'https://pipeline.example.com', to: 'open' },
    });
    expect(webhook.accepted[0]?.headers['webhook-id']).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(webhook.accepted[0]?.path).toBe('/ops');

    expect(slack.problems).toEqual([]);
    expect(slack.accepted).toHaveLength(1);
    expect(String(slack.accepted[0]?.json['text'])).toContain(
      'Pipeline failing: https://pipeline.example.com',
    );
    expect(await outcomes(registry)).toMatchObject({
      'webhook/delivered': 1,
      'slack/delivered': 1,
    });
  });

  it('stays silent while the same origin stays failing, however often its breaker opens again', async () => {
    const { webhook, slack, notifier } = await setup();
    const origin = 'https://pipeline.example.com';
    await feed(
      notifier,
      breaker(origin, 'closed', 'open'),
      breaker(origin, 'open', 'half_open'),
      breaker(origin, 'half_open', 'open'),
      breaker(origin, 'open', 'half_open'),
      breaker(origin, 'half_open', 'open'),
    );
    await feed(notifier, breaker(origin, 'closed', 'open'));
    expect(types(webhook)).toEqual(['operational.pipeline_failing.opened']);
    expect(slack.received).toHaveLength(1);
  });

  it('sends one recovery when the breaker closes, and none for a breaker it never reported as open', async () => {
    const { webhook, notifier } = await setup();
    await feed(notifier, breaker('https://other.example.com', 'half_open', 'closed'));
    expect(webhook.received).toHaveLength(0);

    const origin = 'https://pipeline.example.com';
    await feed(notifier, breaker(origin, 'closed', 'open'));
    await feed(notifier, breaker(origin, 'half_open', 'closed'), breaker(origin, 'open', 'closed'));
    expect(webhook.problems).toEqual([]);
    expect(types(webhook)).toEqual([
      'operational.pipeline_failing.opened',
      'operational.pipeline_failing.recovered',
    ]);
    const [opened, recovered] = webhook.accepted.map((r) => r.json);
    expect(recovered).toMatchObject({
      severity: 'info',
      title: `Pipeline recovered: ${origin}`,
      condition_key: `pipeline_failing:${origin}`,
      first_seen_at: opened?.['first_seen_at'],
    });
    expect(recovered?.['details']).toHaveProperty('open_for_s');
  });

  it('gathers 100 overdue callbacks into one message with their count and a few ids', async () => {
    const { webhook, slack, notifier } = await setup({ batchWindowMs: 200 });
    const events = Array.from({ length: 100 }, (_, i) =>
      auditEvent({
        type: 'callback.overdue',
        correlation: { registration_id: `reg_${String(i).padStart(3, '0')}` },
        data: { deadline: '2026-01-01T00:00:00.000Z', waited_s: 3_600 },
      }),
    );
    // In several audit batches, as a sweep would write them; the same registration twice.
    await notifier.sink.write(events.slice(0, 40));
    await notifier.sink.write(events.slice(40));
    await notifier.sink.write(events.slice(0, 5));
    await until(() => webhook.received.length >= 1 && slack.received.length >= 1);
    await notifier.flush();

    expect(webhook.problems).toEqual([]);
    expect(webhook.accepted).toHaveLength(1);
    const body = webhook.accepted[0]?.json ?? {};
    expect(body).toMatchObject({
      type: 'operational.callbacks_overdue.fact',
      severity: 'warning',
      title: '100 callbacks overdue',
      condition_key: 'callbacks_overdue',
      details: { count: 100 },
    });
    const ids = (body['details'] as { registration_ids: string[] }).registration_ids;
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.length).toBeLessThanOrEqual(10);
    expect(ids[0]).toBe('reg_000');
    expect(slack.accepted).toHaveLength(1);
  });

  it('sends at most N messages a minute to a target, then one "N more notifications suppressed" summary when the window frees up', async () => {
    const clock = manualClock();
    const { webhook, slack, notifier, registry } = await setup({ clock, maxPerMinute: 3 });
    const origins = Array.from({ length: 8 }, (_, i) => `https://pipeline-${i}.example.com`);
    await feed(notifier, ...origins.map((origin) => breaker(origin, 'closed', 'open')));
    expect(webhook.received).toHaveLength(3);
    expect(slack.received).toHaveLength(3);

    clock.advance(30_000);
    await notifier.flush();
    expect(webhook.received).toHaveLength(3);

    clock.advance(30_001);
    await until(() => webhook.received.length === 4 && slack.received.length === 4);
    await notifier.flush();
    const summary = webhook.accepted[3]?.json ?? {};
    expect(summary).toMatchObject({
      type: 'operational.notifications_suppressed.fact',
      severity: 'critical',
      title: '5 more notifications suppressed',
      details: { suppressed: 5, by_condition: { pipeline_failing: 5 } },
    });
    expect(webhook.problems).toEqual([]);
    expect(String(slack.accepted[3]?.json['text'])).toContain('5 more notifications suppressed');
    expect(await outcomes(registry)).toMatchObject({
      'webhook/suppressed': 5,
      'webhook/delivered': 4,
      'slack/suppressed': 5,
    });

    // The window has room again: the next one goes straight out.
    clock.advance(60_000);
    await feed(notifier, breaker('https://late.example.com', 'closed', 'open'));
    expect(webhook.received).toHaveLength(5);
  });

  it('coalesces a flood into counters, not queues: 5000 openings make 3 messages and one summary', async () => {
    const clock = manualClock();
    const { webhook, notifier, registry } = await setup({
      clock,
      maxPerMinute: 3,
      maxTracked: 100,
    });
    const events = Array.from({ length: 5_000 }, (_, i) =>
      breaker(`https://p${i}.example.com`, 'closed', 'open'),
    );
    await feed(notifier, ...events);
    clock.advance(60_001);
    await until(() => webhook.received.length === 4);
    await notifier.flush();
    expect(webhook.accepted[3]?.json).toMatchObject({
      title: '4997 more notifications suppressed',
      details: { suppressed: 4_997 },
    });
    expect((webhook.accepted[3]?.json['details'] as { titles: string[] }).titles).toHaveLength(5);
    expect(await outcomes(registry)).toMatchObject({ 'webhook/suppressed': 4_997 });
  });

  it('reminds about a condition still open only when it is seen again after the repeat interval', async () => {
    // Signatures carry the notifier's clock: keep it within the receiver's 5 min tolerance.
    const clock = manualClock(Date.now() - 60_000);
    const { webhook, notifier } = await setup({ clock, repeatAfterMs: 120_000 });
    const origin = 'https://pipeline.example.com';
    await feed(notifier, breaker(origin, 'closed', 'open'));
    clock.advance(119_000);
    await feed(notifier, breaker(origin, 'half_open', 'open'));
    expect(webhook.received).toHaveLength(1);

    clock.advance(2_000);
    await feed(notifier, breaker(origin, 'half_open', 'open'));
    expect(webhook.problems).toEqual([]);
    expect(webhook.received).toHaveLength(2);
    expect(webhook.accepted[1]?.json).toMatchObject({
      type: 'operational.pipeline_failing.opened',
      title: `Still: Pipeline failing: ${origin}`,
      details: { reminder: true, open_for_s: 121 },
      first_seen_at: webhook.accepted[0]?.json['first_seen_at'],
    });
    await feed(notifier, breaker(origin, 'half_open', 'open'));
    expect(webhook.received).toHaveLength(2);
  });

  it('delivers after a receiver answers 500 twice, with the same webhook-id on every attempt', async () => {
    const { webhook, notifier, registry } = await setup({
      webhookAnswer: (index) => (index < 2 ? 500 : 200),
    });
    await feed(notifier, breaker('https://pipeline.example.com', 'closed', 'open'));
    expect(webhook.problems).toEqual([]);
    expect(webhook.received).toHaveLength(3);
    const ids = new Set(webhook.received.map((r) => r.headers['webhook-id']));
    expect(ids.size).toBe(1);
    expect(await outcomes(registry)).toMatchObject({ 'webhook/delivered': 1 });
    expect((await outcomes(registry))['webhook/failed']).toBeUndefined();
  });

  it('gives up on a receiver that never answers: timed out, counted, logged once, and it goes on', async () => {
    const { webhook, slack, notifier, registry, log } = await setup({
      webhookAnswer: () => 0,
      timeoutMs: 150,
      retry: { attempts: 2, baseDelayMs: 10 },
    });
    const started = Date.now();
    await feed(
      notifier,
      breaker('https://a.example.com', 'closed', 'open'),
      breaker('https://b.example.com', 'closed', 'open'),
    );
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(webhook.received).toHaveLength(4);
    expect(slack.accepted).toHaveLength(2);
    expect(await outcomes(registry)).toMatchObject({
      'webhook/timed_out': 2,
      'slack/delivered': 2,
    });
    const warnings = log
      .lines()
      .split('\n')
      .filter((line) => line.includes('could not be delivered'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('timed_out after 2 attempts');
  });

  it('counts a 4xx answer as failed without retrying it', async () => {
    const { webhook, notifier, registry } = await setup({ webhookAnswer: () => 404 });
    await feed(notifier, breaker('https://a.example.com', 'closed', 'open'));
    expect(webhook.received).toHaveLength(1);
    expect(await outcomes(registry)).toMatchObject({ 'webhook/failed': 1 });
  });

  it('refuses a private target without OUTBOUND_ALLOW: by name at connect time, as an IP at start', async () => {
    const secret = newSecret();
    const receiver = await startWebhookReceiver(secret);
    cleanups.push(() => receiver.close());
    const port = new URL(receiver.url).port;
    const registry = new Registry();
    const log = captureLogger();
    const policy = createOutboundPolicy();

    const notifier = createNotifier({
      source: 'worker',
      webhookUrls: [`http://localhost:${port}/ops`],
      webhookSecret: secret,
      policy,
      logger: log.logger,
      registry,
    });
    cleanups.push(() => notifier.close(1_000));
    await feed(notifier, breaker('https://a.example.com', 'closed', 'open'));
    expect(receiver.received).toHaveLength(0);
    expect(await outcomes(registry)).toMatchObject({ 'webhook/refused': 1 });
    expect(log.lines()).toContain('OUTBOUND_PRIVATE_ADDRESS');
    expect(log.lines()).toContain('OUTBOUND_ALLOW');

    expect(() =>
      createNotifier({
        source: 'worker',
        webhookUrls: [`${receiver.url}/ops`],
        webhookSecret: secret,
        policy,
        logger: log.logger,
      }),
    ).toThrow(expect.objectContaining({ code: 'NOTIFY_TARGET_REFUSED' }));
  });

  it('never writes the webhook secret or a Slack URL to its logs', async () => {
    const { notifier, log, secret, slackUrl } = await setup({
      webhookAnswer: () => 500,
      slackAnswer: () => 0,
      timeoutMs: 100,
      retry: { attempts: 2, baseDelayMs: 5 },
    });
    await feed(notifier, breaker('https://a.example.com', 'closed', 'open'));
    await feed(notifier, breaker('https://a.example.com', 'open', 'closed'));
    await notifier.close(1_000);
    const lines = log.lines();
    expect(lines).toContain('could not be delivered to slack #1 (http://127.0.0.1');
    expect(lines).toContain('could not be delivered to webhook #1');
    expect(lines).not.toContain(secret);
    expect(lines).not.toContain(secret.slice('whsec_'.length));
    expect(lines).not.toContain(slackUrl);
    expect(lines).not.toContain('slackTokenPart0123456789');
  });

  it('reports the public URL going away and coming back, a URL change, and the tunnel going down and up', async () => {
    const { webhook, notifier } = await setup();
    const refused = auditEvent({
      type: 'webhook_url.refused',
      data: {
        reasons: [{ source: 'ngrok', code: 'WEBHOOK_URL_TUNNEL_FAILED', reason: 'session lost' }],
        duration_ms: 12,
        purpose: 'registration',
      },
    });
    await feed(notifier, refused, refused);
    await feed(
      notifier,
      auditEvent({
        type: 'tunnel.down',
        data: {
          provider: 'ngrok',
          phase: 'lost',
          reason: 'session lost',
          url: 'https://a.ngrok.app',
        },
      }),
      auditEvent({
        type: 'tunnel.down',
        data: { provider: 'ngrok', phase: 'start_failed', reason: 'failed to connect session' },
      }),
    );
    await feed(
      notifier,
      auditEvent({ type: 'tunnel.up', data: { provider: 'ngrok', url: 'https://b.ngrok.app' } }),
      auditEvent({
        type: 'webhook_url.changed',
        data: { old_url: 'https://a.ngrok.app', new_url: 'https://b.ngrok.app', source: 'ngrok' },
      }),
      auditEvent({
        type: 'webhook_url.resolved',
        data: {
          base_url: 'https://b.ngrok.app',
          source: 'ngrok',
          verified_by: 'probe',
          insecure: false,
          duration_ms: 40,
        },
      }),
    );
    // A deliberate close at shutdown is no outage.
    await feed(
      notifier,
      auditEvent({
        type: 'tunnel.down',
        data: { provider: 'ngrok', phase: 'closed', reason: 'close()' },
      }),
    );
    expect(webhook.problems).toEqual([]);
    expect(types(webhook)).toEqual([
      'operational.public_url_unavailable.opened',
      'operational.tunnel_down.opened',
      'operational.tunnel_down.recovered',
      'operational.public_url_changed.fact',
      'operational.public_url_unavailable.recovered',
    ]);
    expect(webhook.accepted[3]?.json).toMatchObject({
      details: { old_url: 'https://a.ngrok.app', new_url: 'https://b.ngrok.app' },
    });
    expect(String(webhook.accepted[0]?.json['text'])).toContain('WEBHOOK_URL_TUNNEL_FAILED');
  });

  it('reports only the conditions it is given (the gateway and the worker each their own)', async () => {
    const { webhook, notifier } = await setup({ conditions: ['tunnel_down'] });
    await feed(
      notifier,
      breaker('https://a.example.com', 'closed', 'open'),
      auditEvent({
        type: 'tunnel.down',
        data: { provider: 'ngrok', phase: 'lost', reason: 'session lost' },
      }),
    );
    expect(types(webhook)).toEqual(['operational.tunnel_down.opened']);
  });

  it('sends gathered dead letters when it closes, within its deadline, and ignores events after', async () => {
    const { webhook, notifier } = await setup({ batchWindowMs: 60_000 });
    await notifier.sink.write(
      ['reg_a', 'reg_b'].map((id) =>
        auditEvent({
          type: 'delivery.dead_lettered',
          correlation: { registration_id: id, delivery_id: `cb_${id}` },
          data: { attempts: 9, last_error: 'HTTP 503' },
        }),
      ),
    );
    expect(webhook.received).toHaveLength(0);
    const started = Date.now();
    await notifier.close(2_000);
    expect(Date.now() - started).toBeLessThan(2_500);
    expect(webhook.accepted.map((r) => r.json)).toMatchObject([
      {
        type: 'operational.delivery_dead_lettered.fact',
        title: 'Deliveries dead-lettered for 2 registrations',
        details: { count: 2, registration_ids: ['reg_a', 'reg_b'] },
      },
    ]);
    await notifier.sink.write([breaker('https://a.example.com', 'closed', 'open')]);
    await notifier.close();
    expect(webhook.received).toHaveLength(1);
  });

  it("never keeps an idle process alive: the batch window, the held summary and the retry wait are unref'd", async () => {
    const armed: NodeJS.Timeout[] = [];
    const clock: Clock = {
      ...systemClock,
      setTimeout(callback, ms) {
        const handle = systemClock.setTimeout(callback, ms) as NodeJS.Timeout;
        armed.push(handle);
        return handle;
      },
    };
    const { webhook, notifier } = await setup({
      clock,
      batchWindowMs: 60_000,
      maxPerMinute: 1,
      webhookAnswer: (index) => (index < 1 ? 500 : 200),
      retry: { attempts: 2, baseDelayMs: 10 },
    });
    // A retry wait (the first answer is 500), then a summary held back by the rate limit.
    await feed(
      notifier,
      breaker('https://a.example.com', 'closed', 'open'),
      breaker('https://b.example.com', 'closed', 'open'),
    );
    expect(webhook.received).toHaveLength(2);
    const overdue = auditEvent({
      type: 'callback.overdue',
      correlation: { registration_id: 'reg_001' },
      data: { deadline: '2026-01-01T00:00:00.000Z', waited_s: 3_600 },
    });
    // A batch waiting for its window.
    await notifier.sink.write([overdue]);

    expect(armed.length).toBeGreaterThanOrEqual(3);
    expect(armed.filter((handle) => handle.hasRef())).toEqual([]);
  });

  it('closes within its deadline while a target hangs', async () => {
    const { notifier } = await setup({ webhookAnswer: () => 0, timeoutMs: 5_000 });
    await notifier.sink.write([breaker('https://a.example.com', 'closed', 'open')]);
    const started = Date.now();
    await notifier.close(300);
    expect(Date.now() - started).toBeLessThan(1_500);
  });
});
