import {
  OutboundRefusedError,
  createOutboundPolicy,
  type OutboundPolicy,
} from '@callback-gateway/outbound';
import { NotifyError } from './errors.js';
import type { Target, TargetKind } from './send.js';

/**
 * Why a Standard Webhooks secret is unusable, or `undefined` when it is fine: `whsec_` followed
 * by the base64 of 24 to 64 random bytes (what `standardwebhooks` and `svix` generate). The
 * secret itself never appears in the answer.
 */
export function checkWebhookSecret(secret: string): string | undefined {
  const hint = 'expected whsec_ followed by the base64 of 24 to 64 random bytes';
  if (!secret.startsWith('whsec_')) return hint;
  const encoded = secret.slice('whsec_'.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return `${hint} (not base64)`;
  const bytes = Buffer.from(encoded, 'base64').length;
  return bytes >= 24 && bytes <= 64 ? undefined : `${hint} (it holds ${bytes} bytes)`;
}

/** A URL's origin for logs (no path or query: a Slack URL's token is in its path). */
function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/** `slack #2 (https://hooks.slack.com)`: what logs and errors show instead of the URL. */
export function targetLabel(kind: TargetKind, index: number, url: string): string {
  const origin = originOf(url);
  return `${kind} #${index + 1}${origin && origin !== 'null' ? ` (${origin})` : ''}`;
}

/** Why the outbound policy refuses a target, without repeating the URL. */
function refusal(
  policy: OutboundPolicy,
  url: string,
): { code: string; reason: string } | undefined {
  try {
    policy.checkUrl(url);
    return undefined;
  } catch (error) {
    if (!(error instanceof OutboundRefusedError)) throw error;
    // This message quotes the URL: say it in other words.
    const reason = error.code === 'OUTBOUND_INVALID_URL' ? 'it is not a valid URL' : error.message;
    return { code: error.code, reason };
  }
}

/**
 * Checks targets and secret, and names each target for logs. Host names are checked again at
 * connect time on the address they resolve to (the guarded agent); here only what the URL
 * itself says: scheme, credentials, IP literals.
 */
export function checkTargets(options: {
  webhookUrls?: readonly string[];
  webhookSecret?: string;
  slackUrls?: readonly string[];
  policy: OutboundPolicy;
}): Target[] {
  const webhookUrls = options.webhookUrls ?? [];
  if (webhookUrls.length > 0 && !options.webhookSecret) {
    throw new NotifyError(
      'NOTIFY_WEBHOOK_SECRET_REQUIRED',
      'webhook notification targets need a signing secret: set NOTIFY_WEBHOOK_SECRET to whsec_<base64 of 24 to 64 random bytes>',
    );
  }
  if (options.webhookSecret) {
    const problem = checkWebhookSecret(options.webhookSecret);
    if (problem) {
      throw new NotifyError(
        'NOTIFY_WEBHOOK_SECRET_INVALID',
        `the webhook signing secret is unusable: ${problem}`,
      );
    }
  }
  const targets: Target[] = [
    ...webhookUrls.map((url, index) => ({
      kind: 'webhook' as const,
      url,
      label: targetLabel('webhook', index, url),
    })),
    ...(options.slackUrls ?? []).map((url, index) => ({
      kind: 'slack' as const,
      url,
      label: targetLabel('slack', index, url),
    })),
  ];
  for (const target of targets) {
    const refused = refusal(options.policy, target.url);
    if (refused) {
      throw new NotifyError(
        'NOTIFY_TARGET_REFUSED',
        `notification target ${target.label} is refused (${refused.code}): ${refused.reason}`,
      );
    }
  }
  return targets;
}

/** The settings {@link checkNotifySettings} looks at (names as in the environment). */
export interface NotifySettings {
  NOTIFY_WEBHOOK_URLS: readonly string[];
  NOTIFY_WEBHOOK_SECRET: string | undefined;
  NOTIFY_SLACK_WEBHOOK_URLS: readonly string[];
  OUTBOUND_ALLOW: readonly string[];
}

/**
 * Cross-checks the notification settings once each variable is valid (for `parseSettings`'s
 * `check`): one `NAME: problem` line per problem, never quoting a secret or a Slack URL.
 */
export function checkNotifySettings(settings: NotifySettings): string[] {
  const problems: string[] = [];
  if (settings.NOTIFY_WEBHOOK_URLS.length > 0 && !settings.NOTIFY_WEBHOOK_SECRET) {
    problems.push(
      'NOTIFY_WEBHOOK_SECRET: required when NOTIFY_WEBHOOK_URLS is set (whsec_<base64 of 24 to 64 random bytes>)',
    );
  }
  if (settings.NOTIFY_WEBHOOK_SECRET) {
    const problem = checkWebhookSecret(settings.NOTIFY_WEBHOOK_SECRET);
    if (problem) problems.push(`NOTIFY_WEBHOOK_SECRET: ${problem}`);
  }
  const policy = createOutboundPolicy({ allow: settings.OUTBOUND_ALLOW });
  const lists = [
    ['NOTIFY_WEBHOOK_URLS', 'webhook', settings.NOTIFY_WEBHOOK_URLS],
    ['NOTIFY_SLACK_WEBHOOK_URLS', 'slack', settings.NOTIFY_SLACK_WEBHOOK_URLS],
  ] as const;
  for (const [name, kind, urls] of lists) {
    urls.forEach((url, index) => {
      const refused = refusal(policy, url);
      if (refused) {
        problems.push(
          `${name}: ${targetLabel(kind, index, url)} is refused (${refused.code}): ${refused.reason}`,
        );
      }
    });
  }
  return problems;
}
