import type { File } from 'node:buffer';
import { FormData } from 'undici';
import {
  detail,
  fileOf,
  lastSegment,
  queryOf,
  readForm,
  readJson,
  seen,
  type Answer,
  type Incoming,
  type RouteContext,
  type UploadedFile,
} from './answer.js';
import { EXPAND_PARTS, expandPart, hasResult, jobV2Body, statusV2 } from './results.js';
import type { FakeApi, FakeJob, FakeWebhook } from './types.js';
import {
  checkWebhookUrl,
  createParamsSchema,
  listQuerySchema,
  validate,
  type CreateParams,
} from './validation.js';

/**
 * The v2 parse API, as the SDK's `parsing` resource calls it: create (JSON and upload), get,
 * list, cancel, delete and versions, under `/api/v2/parse`. `rest` is the path after it.
 */
export async function routeV2(
  context: RouteContext,
  incoming: Incoming,
  rest: readonly string[],
): Promise<Answer | undefined> {
  const is = (method: string) => incoming.method === method;
  const [first, second] = rest;
  if (first === undefined) {
    if (is('POST')) return parseV2(context, incoming);
    if (is('GET')) return listV2(context, incoming.url);
    return detail(405, 'Method Not Allowed');
  }
  if (rest.length === 1 && first === 'upload') {
    return is('POST') ? uploadV2(context, incoming) : detail(405, 'Method Not Allowed');
  }
  if (rest.length === 1 && first === 'versions' && is('GET')) {
    return { status: 200, body: context.versions };
  }
  // v1 jobs are not v2 jobs: the v2 API does not know them.
  const job = context.jobs.get(first);
  const known = job !== undefined && job.api !== 'v1-upload' ? job : undefined;
  if (rest.length === 1 && (is('GET') || is('DELETE'))) {
    if (!known) return detail(404, `Job not found: ${first}`);
    return is('GET') ? getJobV2(known, incoming.url) : deleteJob(context, known);
  }
  if (rest.length === 2 && second === 'cancel' && is('POST')) {
    if (!known) return detail(404, `Job not found: ${first}`);
    return cancelJob(context, known);
  }
  return undefined;
}

async function parseV2(context: RouteContext, incoming: Incoming): Promise<Answer> {
  const json = readJson(incoming);
  if (!('value' in json)) return json;
  const checked = checkCreate(context, json.value, ['body']);
  if (!checked.ok) return checked.answer;
  const { file_id: fileId, source_url: sourceUrl } = checked.params;
  if (!fileId && !sourceUrl) return detail(400, 'Either file_id or source_url must be provided.');
  if (fileId && sourceUrl) return detail(400, 'Provide either file_id or source_url, not both.');
  const name = fileId || lastSegment(sourceUrl);
  return createV2(context, incoming, 'v2-parse', checked.params, name);
}

async function uploadV2(context: RouteContext, incoming: Incoming): Promise<Answer> {
  const form = await readForm(incoming);
  if (!(form instanceof FormData)) return form;
  const raw = form.get('configuration');
  const missing = [
    ...(form.get('file') === null ? ['file'] : []),
    ...(raw === null ? ['configuration'] : []),
  ];
  if (missing.length > 0) {
    return detail(
      422,
      missing.map((name) => ({ type: 'missing', loc: ['body', name], msg: 'Field required' })),
    );
  }
  const file = fileOf(form.get('file') as File | string);
  if (!file)
    return detail(422, [
      { type: 'value_error', loc: ['body', 'file'], msg: 'Expected UploadFile' },
    ]);
  if (file.size === 0) return detail(400, 'The uploaded file is empty.');
  let value: unknown;
  try {
    value = JSON.parse(String(raw));
  } catch {
    return detail(422, [
      { type: 'json_invalid', loc: ['body', 'configuration'], msg: 'Invalid JSON' },
    ]);
  }
  const checked = checkCreate(context, value, ['body', 'configuration']);
  if (!checked.ok) return checked.answer;
  return createV2(context, incoming, 'v2-upload', checked.params, file.name, file);
}

/** A v2 job's parameters when they are acceptable, or the refusal. */
function checkCreate(
  context: RouteContext,
  value: unknown,
  where: Array<string | number>,
): { ok: true; params: CreateParams } | { ok: false; answer: Answer } {
  const refuse = (answer: Answer) => ({ ok: false as const, answer });
  const configurationId =
    value !== null && typeof value === 'object' && 'configuration_id' in value
      ? value.configuration_id
      : undefined;
  // The fake keeps no saved parse configurations: any id names one it does not have.
  if (typeof configurationId === 'string' && configurationId !== '') {
    return refuse(detail(404, `Parse configuration not found: ${configurationId}`));
  }
  const parsed = validate(createParamsSchema(context.versions), value, where);
  if (!parsed.ok) return refuse(detail(parsed.refusal.status, parsed.refusal.detail));
  const params = parsed.value;
  for (const [index, webhook] of (params.webhook_configurations ?? []).entries()) {
    if (webhook.webhook_url === null || webhook.webhook_url === undefined) continue;
    const why = checkWebhookUrl(
      webhook.webhook_url,
      `webhook_configurations[${index}].webhook_url`,
    );
    if (why) return refuse(detail(400, why));
  }
  for (const id of params.webhook_configuration_ids ?? []) {
    if (!context.webhookConfigs.has(id)) {
      return refuse(
        detail(400, `Invalid webhook_configuration_ids: no webhook configuration ${id}.`),
      );
    }
  }
  return { ok: true, params };
}

function createV2(
  context: RouteContext,
  incoming: Incoming,
  api: FakeApi,
  params: CreateParams,
  name: string,
  file?: UploadedFile,
): Answer {
  const webhooks: FakeWebhook[] = [];
  for (const webhook of params.webhook_configurations ?? []) {
    if (!webhook.webhook_url) continue;
    webhooks.push({
      url: webhook.webhook_url,
      kind: 'events',
      signingSecret: webhook.webhook_signing_secret ?? undefined,
      events: webhook.webhook_events ?? undefined,
      headers: Object.fromEntries(
        Object.entries(webhook.webhook_headers ?? {}).map(([header, value]) => [
          header,
          typeof value === 'string' ? value : JSON.stringify(value),
        ]),
      ),
      outputFormat: webhook.webhook_output_format ?? 'string',
    });
  }
  const [first] = webhooks;
  const ids = params.webhook_configuration_ids ?? [];
  const job = context.createJob({
    api,
    name,
    tier: params.tier,
    version: params.version,
    projectId: incoming.url.searchParams.get('project_id') ?? undefined,
    webhooks,
    webhookConfigurationIds: ids,
    submission: {
      webhookUrl: first?.url,
      ...(first?.signingSecret ? { signingSecret: first.signingSecret } : {}),
      ...(first ? { outputFormat: first.outputFormat } : {}),
      ...(first?.events ? { events: first.events } : {}),
      ...(first && Object.keys(first.headers).length > 0 ? { webhookHeaders: first.headers } : {}),
      ...(ids.length > 0 ? { webhookConfigurationIds: ids } : {}),
      fields: params,
      ...(file ? { file } : {}),
      ...seen(incoming),
    },
  });
  return { status: 200, body: jobV2Body(job) };
}

/** The `expand` values, sent repeated (`?expand=a&expand=b`) or comma-separated (`a,b`). */
export function expandValues(url: URL): string[] {
  return url.searchParams
    .getAll('expand')
    .flatMap((value) => value.split(','))
    .map((value) => value.trim())
    .filter((value) => value !== '');
}

function getJobV2(job: FakeJob, url: URL): Answer {
  const body: Record<string, unknown> = { job: jobV2Body(job) };
  if (hasResult(job)) {
    const wanted = new Set(expandValues(url));
    for (const part of EXPAND_PARTS) if (wanted.has(part)) body[part] = expandPart(job, part);
  }
  return { status: 200, body };
}

function listV2(context: RouteContext, url: URL): Answer {
  const query = queryOf(url);
  const single = Object.fromEntries(
    Object.entries(query)
      .filter(([name]) => name !== 'job_ids')
      .map(([name, values]) => [name, values[0]]),
  );
  const parsed = validate(listQuerySchema, single, ['query']);
  if (!parsed.ok) return detail(parsed.refusal.status, parsed.refusal.detail);
  const { status, page_size: pageSize = 50, page_token: token } = parsed.value;
  const after = parsed.value.created_at_on_or_after;
  const before = parsed.value.created_at_on_or_before;
  const ids = new Set((query['job_ids'] ?? []).flatMap((value) => value.split(',')));
  const start = Number(token ?? 0) || 0;
  const matching = [...context.jobs.values()].filter(
    (job) =>
      job.api !== 'v1-upload' &&
      (status === undefined || statusV2(job.state) === status) &&
      (ids.size === 0 || ids.has(job.id)) &&
      (after === undefined || Date.parse(job.createdAt) >= Date.parse(after)) &&
      (before === undefined || Date.parse(job.createdAt) <= Date.parse(before)),
  );
  const page = matching.slice(start, start + pageSize);
  const next = start + pageSize < matching.length ? String(start + pageSize) : null;
  return { status: 200, body: { items: page.map(jobV2Body), next_page_token: next } };
}

function cancelJob(context: RouteContext, job: FakeJob): Answer {
  if (job.state !== 'pending' && job.state !== 'running') {
    return detail(
      400,
      `Job ${job.id} is ${statusV2(job.state)}: only a PENDING or RUNNING job can be cancelled.`,
    );
  }
  context.cancelJob(job);
  return { status: 200, body: jobV2Body(job) };
}

function deleteJob(context: RouteContext, job: FakeJob): Answer {
  if (job.state === 'pending' || job.state === 'running') {
    return detail(400, `Job ${job.id} is ${statusV2(job.state)}: cancel it before deleting it.`);
  }
  context.deleteJob(job);
  return { status: 200, body: { id: job.id, project_id: job.projectId } };
}
