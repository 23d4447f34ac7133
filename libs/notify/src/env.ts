import { envInt, envList, envSecret } from '@callback-gateway/runtime';

/**
 * The notification settings (both processes spread this into their schema). URLs and the
 * secret are cross-checked by `checkNotifySettings`, which never echoes them (a Slack URL
 * embeds its token).
 */
export const notifyEnvShape = {
  NOTIFY_WEBHOOK_URLS: envList(),
  NOTIFY_WEBHOOK_SECRET: envSecret({ minLength: 8 }),
  NOTIFY_SLACK_WEBHOOK_URLS: envList(),
  NOTIFY_REPEAT_AFTER_S: envInt({ default: 3_600, min: 60, max: 7 * 86_400 }),
  NOTIFY_MAX_PER_MINUTE: envInt({ default: 20, min: 1, max: 1_000 }),
};
