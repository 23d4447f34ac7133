import type { ConditionName, Severity } from './conditions.js';

/** Where a notification stands in its condition's life. */
export type Phase = 'opened' | 'recovered' | 'fact';

/** The rate limiter's own summary is reported like a condition. */
export type NotificationCondition = ConditionName | 'notifications_suppressed';

/** One operational notification, before it is rendered for a target. */
export interface Notification {
  /** `webhook-id`: the same on every retry of this notification. */
  id: string;
  condition: NotificationCondition;
  phase: Phase;
  severity: Severity;
  title: string;
  text: string;
  conditionKey: string;
  /** When the condition (or the first fact of a batch) was first seen. */
  firstSeenAt: string;
  /** When what this notification reports happened. */
  at: string;
  details: Record<string, unknown>;
  /** The process that sent it (`gateway`, `worker`). */
  source: string;
}

/** `operational.<condition>.<opened|recovered|fact>`. */
export function notificationType(notification: Notification): string {
  return `operational.${notification.condition}.${notification.phase}`;
}

/** The signed JSON webhook body. Key order is stable (what receivers see and log). */
export function webhookBody(notification: Notification): string {
  return JSON.stringify({
    type: notificationType(notification),
    severity: notification.severity,
    title: notification.title,
    text: notification.text,
    condition_key: notification.conditionKey,
    first_seen_at: notification.firstSeenAt,
    at: notification.at,
    details: notification.details,
    source: notification.source,
  });
}

const SEVERITY_EMOJI: Record<Severity, string> = {
  critical: ':red_circle:',
  warning: ':warning:',
  info: ':large_green_circle:',
};

/** Slack's mrkdwn needs `&`, `<` and `>` escaped; nothing else. */
function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * The Slack incoming-webhook body: `text` (the fallback shown in notifications) and `blocks`
 * (a mrkdwn section with title and text, then a context line with severity, source, key and
 * times). Slack-compatible receivers (Mattermost, Rocket.Chat, Discord's `/slack` endpoint)
 * read the same shape.
 */
export function slackBody(notification: Notification): string {
  const emoji =
    notification.phase === 'recovered'
      ? SEVERITY_EMOJI.info
      : SEVERITY_EMOJI[notification.severity];
  const title = escapeMrkdwn(notification.title);
  const context = [
    `*${notification.severity}*`,
    escapeMrkdwn(notification.source),
    `\`${escapeMrkdwn(clip(notification.conditionKey, 200))}\``,
    `first seen ${notification.firstSeenAt}`,
    `at ${notification.at}`,
  ].join(' · ');
  return JSON.stringify({
    text: clip(`${emoji} ${title} (${escapeMrkdwn(notification.source)})`, 3_000),
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: clip(`${emoji} *${title}*\n${escapeMrkdwn(notification.text)}`, 3_000),
        },
      },
      { type: 'context', elements: [{ type: 'mrkdwn', text: clip(context, 3_000) }] },
    ],
  });
}

/** `12 s`, `5 min`, `3 h`. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7_200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3_600)} h`;
}

const str = (value: unknown) => (typeof value === 'string' ? value : String(value ?? ''));
/** Free text quoted inside a sentence: without its own final period. */
const quote = (value: unknown) => str(value).trim().replace(/\.+$/, '');

/** What a state condition's opening says. */
function opened(condition: ConditionName, details: Record<string, unknown>) {
  switch (condition) {
    case 'pipeline_failing': {
      const where = str(details['destination'] ?? details['destination_origin']);
      return {
        title: `Pipeline failing: ${where}`,
        text: `Deliveries to ${where} keep failing and its circuit breaker opened (${quote(details['reason'])}). Its deliveries are held without spending attempts and go out again once a probe succeeds. Check the pipeline at ${where}.`,
      };
    }
    case 'public_url_unavailable': {
      const reasons = Array.isArray(details['reasons'])
        ? (details['reasons'] as { source?: unknown; code?: unknown; reason?: unknown }[])
            .map((r) => `${str(r.source)}: ${str(r.code)} (${quote(r.reason)})`)
            .join('; ')
        : '';
      return {
        title: 'Public callback URL unavailable',
        text: `No verified public callback URL${details['purpose'] ? ` (during ${str(details['purpose'])})` : ''}: registrations are refused with 503 and parse submissions wait; never a localhost URL. ${reasons ? `Reasons: ${reasons}. ` : ''}Set PUBLIC_BASE_URL or NGROK_AUTHTOKEN, or fix the source named above.`,
      };
    }
    case 'tunnel_down':
      return {
        title: `Tunnel down (${str(details['provider'])})`,
        text: `The ${str(details['provider'])} tunnel is down (${str(details['phase'])}${details['code'] ? `, ${str(details['code'])}` : ''}: ${quote(details['reason'])}). Callbacks sent through the tunnel URL fail until it reconnects; the gateway retries with backoff.`,
      };
    default:
      return { title: condition, text: condition };
  }
}

/** What a state condition's recovery says. */
function recovered(condition: ConditionName, details: Record<string, unknown>, openForMs: number) {
  const after = `after ${formatDuration(openForMs)}`;
  switch (condition) {
    case 'pipeline_failing': {
      const where = str(details['destination'] ?? details['destination_origin']);
      return {
        title: `Pipeline recovered: ${where}`,
        text: `Deliveries to ${where} succeed again: its circuit breaker closed ${after}. Held deliveries are on their way.`,
      };
    }
    case 'public_url_unavailable':
      return {
        title: 'Public callback URL available again',
        text: `The public callback URL ${str(details['base_url'])} (from ${str(details['source'])}) is verified again ${after}: registrations are issued again.`,
      };
    case 'tunnel_down':
      return {
        title: `Tunnel up again (${str(details['provider'])})`,
        text: `The ${str(details['provider'])} tunnel is up again at ${str(details['url'])} ${after}.`,
      };
    default:
      return { title: `${condition} recovered`, text: `${condition} recovered ${after}.` };
  }
}

/** Title and text of a state condition's notification. */
export function describeState(
  condition: ConditionName,
  phase: 'opened' | 'recovered',
  details: Record<string, unknown>,
  openForMs: number,
  reminder: boolean,
): { title: string; text: string } {
  if (phase === 'recovered') return recovered(condition, details, openForMs);
  const base = opened(condition, details);
  return reminder
    ? {
        title: `Still: ${base.title}`,
        text: `${base.text} (Open for ${formatDuration(openForMs)}; reminders come at most once per repeat interval while it lasts.)`,
      }
    : base;
}

/** Title and text of a fact, or of a batch of facts (`count` occurrences, `ids` a sample). */
export function describeFact(
  condition: ConditionName,
  count: number,
  ids: readonly string[],
  details: Record<string, unknown>,
): { title: string; text: string } {
  const listed = ids.length > 0 ? `: ${ids.join(', ')}${count > ids.length ? ', …' : ''}` : '';
  switch (condition) {
    case 'delivery_dead_lettered':
      return {
        title:
          count === 1
            ? 'Delivery dead-lettered'
            : `Deliveries dead-lettered for ${count} registrations`,
        text: `${count} registration${count === 1 ? '' : 's'} had a delivery dead-lettered after its last retry${listed}. ${count === 1 ? 'Last error' : 'Last error of the first'}: ${quote(details['last_error'])}. Fix the pipeline, then replay: POST /v1/deliveries/replay.`,
      };
    case 'callbacks_overdue':
      return {
        title: `${count} callback${count === 1 ? '' : 's'} overdue`,
        text: `${count} registration${count === 1 ? '' : 's'} passed the deadline without a final callback${listed}. The worker asks the parser about those with a parser job id; the list: GET /v1/registrations?state=overdue.`,
      };
    case 'public_url_changed':
      return {
        title: 'Public callback URL changed',
        text: `The public base URL changed from ${str(details['old_url'])} to ${str(details['new_url'])} (${str(details['source'])}). Callback URLs issued under the old one may no longer reach this gateway; pending registrations are reconciled early. Use a reserved domain (NGROK_DOMAIN) or PUBLIC_BASE_URL to keep it stable.`,
      };
    default:
      return { title: condition, text: `${condition} (${count})` };
  }
}
