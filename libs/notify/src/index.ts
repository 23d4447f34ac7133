export { createNotifier } from './notifier.js';
export { type Notifier, type NotifierOptions } from './options.js';
export {
  CONDITION_INFO,
  GATEWAY_CONDITIONS,
  NOTIFY_CONDITIONS,
  WORKER_CONDITIONS,
  signalOf,
  type ConditionInfo,
  type ConditionName,
  type Severity,
  type Signal,
} from './conditions.js';
export {
  notificationType,
  slackBody,
  webhookBody,
  type Notification,
  type NotificationCondition,
  type Phase,
} from './messages.js';
export { type NotificationOutcome } from './channel.js';
export { type SendOutcome, type TargetKind } from './send.js';
export {
  checkNotifySettings,
  checkWebhookSecret,
  targetLabel,
  type NotifySettings,
} from './targets.js';
export { NOTIFY_ERROR_CODES, NotifyError, type NotifyErrorCode } from './errors.js';
export { notifyEnvShape } from './env.js';
