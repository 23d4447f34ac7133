import { describe, expect, it } from 'vitest';
import { slackBody, webhookBody, type Notification } from './messages.js';

const notification: Notification = {
  id: 'msg_1',
  condition: 'pipeline_failing',
  phase: 'opened',
  severity: 'critical',
  title: 'Pipeline failing: https://a.example.com/<x>&y',
  text: 'Deliveries to <https://a.example.com> fail & more',
  conditionKey: 'pipeline_failing:https://a.example.com',
  firstSeenAt: '2026-01-01T00:00:00.000Z',
  at: '2026-01-01T00:00:01.000Z',
  details: { destination_origin: 'https://a.example.com' },
  source: 'worker',
};

describe('message formats', () => {
  it('renders the webhook body with the documented fields, in order', () => {
    expect(Object.keys(JSON.parse(webhookBody(notification)) as object)).toEqual([
      'type',
      'severity',
      'title',
      'text',
      'condition_key',
      'first_seen_at',
      'at',
      'details',
      'source',
    ]);
    expect(JSON.parse(webhookBody(notification))).toMatchObject({
      type: 'operational.pipeline_failing.opened',
    });
  });

  it('renders a Slack message with a mrkdwn section and a context line, escaping &, < and >', () => {
    const body = JSON.parse(slackBody(notification)) as {
      text: string;
      blocks: {
        type: string;
        text?: { type: string; text: string };
        elements?: { text: string }[];
      }[];
    };
    expect(body.text).toBe(
      ':red_circle: Pipeline failing: https://a.example.com/&lt;x&gt;&amp;y (worker)',
    );
    expect(body.blocks.map((block) => block.type)).toEqual(['section', 'context']);
    expect(body.blocks[0]?.text).toEqual({
      type: 'mrkdwn',
      text: ':red_circle: *Pipeline failing: https://a.example.com/&lt;x&gt;&amp;y*\nDeliveries to &lt;https://a.example.com&gt; fail &amp; more',
    });
    expect(body.blocks[1]?.elements?.[0]?.text).toContain('*critical* · worker');
  });

  it('marks a recovery green whatever the severity of the condition', () => {
    const body = JSON.parse(
      slackBody({ ...notification, phase: 'recovered', severity: 'info' }),
    ) as { text: string };
    expect(body.text.startsWith(':large_green_circle:')).toBe(true);
  });
});
