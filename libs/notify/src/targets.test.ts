import { createOutboundPolicy } from '@callback-gateway/outbound';
import { describe, expect, it } from 'vitest';
import { newSecret } from '../test/helpers.js';
import { checkNotifySettings, checkTargets, checkWebhookSecret } from './targets.js';

const slackUrl = 'https://hooks.slack.com/services/T0000/B0000/abcdefghijklmnopqrstuvwx';
const none = {
  NOTIFY_WEBHOOK_URLS: [],
  NOTIFY_WEBHOOK_SECRET: undefined,
  NOTIFY_SLACK_WEBHOOK_URLS: [],
  OUTBOUND_ALLOW: [],
};

describe('checkWebhookSecret', () => {
  it('accepts whsec_ with 24 to 64 bytes, and refuses the rest without quoting it', () => {
    expect(checkWebhookSecret(newSecret())).toBeUndefined();
    expect(checkWebhookSecret(`whsec_${Buffer.alloc(16).toString('base64')}`)).toMatch(/16 bytes/);
    expect(checkWebhookSecret('plainsecretvalue123')).toMatch(/^expected whsec_/);
    expect(checkWebhookSecret('whsec_not base64!!')).toMatch(/not base64/);
    expect(checkWebhookSecret('plainsecretvalue123')).not.toContain('plainsecretvalue123');
  });
});

describe('checkNotifySettings', () => {
  it('accepts no targets at all, and public targets with a secret', () => {
    expect(checkNotifySettings(none)).toEqual([]);
    expect(
      checkNotifySettings({
        ...none,
        NOTIFY_WEBHOOK_URLS: ['https://ops.example.com/hooks'],
        NOTIFY_WEBHOOK_SECRET: newSecret(),
        NOTIFY_SLACK_WEBHOOK_URLS: [slackUrl],
      }),
    ).toEqual([]);
  });

  it('requires NOTIFY_WEBHOOK_SECRET when webhook URLs are set', () => {
    expect(
      checkNotifySettings({ ...none, NOTIFY_WEBHOOK_URLS: ['https://ops.example.com/hooks'] }),
    ).toEqual([
      expect.stringMatching(/^NOTIFY_WEBHOOK_SECRET: required when NOTIFY_WEBHOOK_URLS is set/),
    ]);
  });

  it('refuses a private IP target unless OUTBOUND_ALLOW lists it', () => {
    const settings = {
      ...none,
      NOTIFY_WEBHOOK_URLS: ['http://10.0.0.8:9000/hooks'],
      NOTIFY_WEBHOOK_SECRET: newSecret(),
    };
    expect(checkNotifySettings(settings)).toEqual([
      expect.stringMatching(
        /^NOTIFY_WEBHOOK_URLS: webhook #1 \(http:\/\/10\.0\.0\.8:9000\) is refused \(OUTBOUND_PRIVATE_ADDRESS\)/,
      ),
    ]);
    expect(checkNotifySettings({ ...settings, OUTBOUND_ALLOW: ['10.0.0.0/8'] })).toEqual([]);
  });

  it('names a bad Slack URL by position, never quoting it (it embeds a token)', () => {
    const problems = checkNotifySettings({
      ...none,
      NOTIFY_SLACK_WEBHOOK_URLS: [slackUrl, 'hooks.slack.com/services/T0/B0/secrettokenvalue'],
    });
    expect(problems).toEqual([
      expect.stringMatching(
        /^NOTIFY_SLACK_WEBHOOK_URLS: slack #2 is refused \(OUTBOUND_INVALID_URL\)/,
      ),
    ]);
    expect(problems.join()).not.toContain('secrettokenvalue');
    const withCredentials = checkNotifySettings({
      ...none,
      NOTIFY_SLACK_WEBHOOK_URLS: ['https://user:secretpassword@hooks.slack.com/services/x'],
    });
    expect(withCredentials.join()).not.toContain('secretpassword');
  });
});

describe('checkTargets', () => {
  it('throws coded errors for a missing or unusable secret', () => {
    const policy = createOutboundPolicy();
    expect(() => checkTargets({ webhookUrls: ['https://ops.example.com'], policy })).toThrow(
      expect.objectContaining({ code: 'NOTIFY_WEBHOOK_SECRET_REQUIRED' }),
    );
    expect(() =>
      checkTargets({
        webhookUrls: ['https://ops.example.com'],
        webhookSecret: 'whsec_short',
        policy,
      }),
    ).toThrow(expect.objectContaining({ code: 'NOTIFY_WEBHOOK_SECRET_INVALID' }));
  });

  it('labels targets by kind, position and origin only', () => {
    const targets = checkTargets({ slackUrls: [slackUrl], policy: createOutboundPolicy() });
    expect(targets).toEqual([
      { kind: 'slack', url: slackUrl, label: 'slack #1 (https://hooks.slack.com)' },
    ]);
  });
});
