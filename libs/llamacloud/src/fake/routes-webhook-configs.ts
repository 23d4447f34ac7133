import { randomUUID } from 'node:crypto';
import { detail, readJson, type Answer, type Incoming, type RouteContext } from './answer.js';
import type { FakeWebhookConfig } from './types.js';
import {
  checkWebhookUrl,
  validate,
  webhookConfigCreateSchema,
  webhookConfigUpdateSchema,
} from './validation.js';

/**
 * Saved webhook configurations, as the SDK's `webhookConfigs` resource calls them:
 * create, list, retrieve, update and delete under `/api/v1/beta/webhook-configs`. A v2 job names
 * them in `webhook_configuration_ids`. `rest` is the path after that prefix.
 */
export function routeWebhookConfigs(
  context: RouteContext,
  incoming: Incoming,
  rest: readonly string[],
): Answer | undefined {
  const is = (method: string) => incoming.method === method;
  const [id] = rest;
  if (id === undefined) {
    if (is('POST')) return create(context, incoming);
    if (is('GET')) {
      const newestFirst = [...context.webhookConfigs.values()].reverse();
      return { status: 200, body: newestFirst.map((config) => configBody(context, config)) };
    }
    return detail(405, 'Method Not Allowed');
  }
  if (rest.length !== 1) return undefined;
  const config = context.webhookConfigs.get(id);
  if (!config) return detail(404, `Webhook configuration not found: ${id}`);
  if (is('GET')) return { status: 200, body: configBody(context, config) };
  if (is('PUT')) return update(context, incoming, config);
  if (is('DELETE')) {
    context.webhookConfigs.delete(id);
    return { status: 204, body: undefined };
  }
  return detail(405, 'Method Not Allowed');
}

function create(context: RouteContext, incoming: Incoming): Answer {
  const json = readJson(incoming);
  if (!('value' in json)) return json;
  const parsed = validate(webhookConfigCreateSchema, json.value, ['body']);
  if (!parsed.ok) return detail(parsed.refusal.status, parsed.refusal.detail);
  const why = checkWebhookUrl(parsed.value.webhook_url);
  if (why) return detail(400, why);
  const at = context.timestamp();
  const config: FakeWebhookConfig = {
    id: randomUUID(),
    url: parsed.value.webhook_url,
    events: parsed.value.webhook_events ?? null,
    headers: parsed.value.webhook_headers ?? {},
    outputFormat: parsed.value.webhook_output_format ?? null,
    signingSecret: parsed.value.webhook_signing_secret ?? undefined,
    createdAt: at,
    updatedAt: at,
  };
  context.webhookConfigs.set(config.id, config);
  return { status: 200, body: configBody(context, config) };
}

function update(context: RouteContext, incoming: Incoming, config: FakeWebhookConfig): Answer {
  const json = readJson(incoming);
  if (!('value' in json)) return json;
  const parsed = validate(webhookConfigUpdateSchema, json.value, ['body']);
  if (!parsed.ok) return detail(parsed.refusal.status, parsed.refusal.detail);
  const changes = parsed.value;
  if (changes.webhook_url) {
    const why = checkWebhookUrl(changes.webhook_url);
    if (why) return detail(400, why);
    config.url = changes.webhook_url;
  }
  if (changes.webhook_events !== undefined) config.events = changes.webhook_events;
  if (changes.webhook_headers !== undefined) config.headers = changes.webhook_headers ?? {};
  if (changes.webhook_output_format !== undefined) {
    config.outputFormat = changes.webhook_output_format;
  }
  if (changes.webhook_signing_secret !== undefined) {
    config.signingSecret = changes.webhook_signing_secret ?? undefined;
  }
  config.updatedAt = context.timestamp();
  return { status: 200, body: configBody(context, config) };
}

/** A saved configuration as the API shows it: never its secret. */
function configBody(context: RouteContext, config: FakeWebhookConfig): Record<string, unknown> {
  return {
    id: config.id,
    has_secret: config.signingSecret !== undefined,
    tenant_id: context.projectId,
    tenant_type: 'project',
    webhook_url: config.url,
    created_at: config.createdAt,
    updated_at: config.updatedAt,
    webhook_events: config.events,
    webhook_headers: config.headers,
    webhook_output_format: config.outputFormat,
  };
}
