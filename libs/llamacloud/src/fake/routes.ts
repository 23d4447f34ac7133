import type { File } from 'node:buffer';
import { FormData, Request } from 'undici';
import {
  EXPAND_PARTS,
  expandPart,
  hasResult,
  jobV1Body,
  jobV2Body,
  resultV1Body,
  statusV2,
} from './results.js';
import type { FakeApi, FakeJob, FakeSubmission, FakeWebhook } from './types.js';
import { checkWebhookUrl, parseConfiguration, type ParseConfiguration } from './validation.js';

/** What a route answers: a status and a JSON body (errors are `{"detail": ...}`). */
export interface Answer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** One received request, body read. */
export interface Incoming {
  method: string;
  path: string;
  url: URL;
  headers: Readonly<Record<string, string>>;
  body: Buffer;
}

/** What the routes need from the fake. */
export interface RouteContext {
  jobs: ReadonlyMap<string, FakeJob>;
  createJob(input: {
    api: FakeApi;
    name: string;
    tier: string | null;
    projectId: string | undefined;
    webhook: FakeWebhook | undefined;
    submission: Omit<FakeSubmission, 'jobId' | 'api'>;
  }): FakeJob;
}

const detail = (status: number, text: unknown): Answer => ({ status, body: { detail: text } });

/** Answers one authorised request, as LlamaCloud's parse APIs do. */
export async function route(context: RouteContext, incoming: Incoming): Promise<Answer> {
  // The Python client still uses the older prefix; both reach the same API.
  const path = incoming.path.replace(/^\/api\/parsing\//, '/api/v1/parsing/');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const [api, version, resource, ...rest] = parts;
  const is = (method: string) => incoming.method === method;
  if (api !== 'api') return detail(404, 'Not Found');

  if (version === 'v1' && resource === 'parsing') {
    if (rest[0] === 'upload' && rest.length === 1) {
      return is('POST') ? uploadV1(context, incoming) : detail(405, 'Method Not Allowed');
    }
    if (rest[0] === 'job' && rest[1] !== undefined && is('GET')) {
      const job = context.jobs.get(rest[1]);
      if (!job) return detail(404, `Job not found: ${rest[1]}`);
      if (rest.length === 2) return { status: 200, body: jobV1Body(job) };
      const kind = rest[3];
      if (rest[2] === 'result' && (kind === 'markdown' || kind === 'text' || kind === 'json')) {
        if (!hasResult(job)) {
          return detail(404, `Job ${job.id} has no result: its status is ${jobV1Body(job).status}`);
        }
        return { status: 200, body: resultV1Body(job, kind) };
      }
    }
  }

  if (version === 'v2' && resource === 'parse') {
    if (rest.length === 0) {
      if (is('POST')) return parseV2(context, incoming);
      if (is('GET')) return listV2(context, incoming.url);
      return detail(405, 'Method Not Allowed');
    }
    if (rest[0] === 'upload' && rest.length === 1) {
      return is('POST') ? uploadV2(context, incoming) : detail(405, 'Method Not Allowed');
    }
    if (rest.length === 1 && rest[0] !== undefined && is('GET')) {
      return getJobV2(context, rest[0], incoming.url);
    }
  }
  return detail(404, 'Not Found');
}

async function readForm(incoming: Incoming): Promise<FormData | Answer> {
  const type = incoming.headers['content-type'] ?? '';
  if (!type.toLowerCase().startsWith('multipart/form-data')) {
    return detail(400, 'Expected a multipart/form-data body.');
  }
  try {
    const request = new Request('http://llamacloud.fake/', {
      method: 'POST',
      headers: { 'content-type': type },
      body: incoming.body,
    });
    return await request.formData();
  } catch {
    return detail(400, 'The multipart/form-data body could not be parsed.');
  }
}

interface UploadedFile {
  name: string;
  size: number;
  contentType: string;
}

function fileOf(value: string | File | null): UploadedFile | undefined {
  if (value === null || typeof value === 'string') return undefined;
  return { name: value.name, size: value.size, contentType: value.type };
}

async function uploadV1(context: RouteContext, incoming: Incoming): Promise<Answer> {
  const form = await readForm(incoming);
  if (!(form instanceof FormData)) return form;
  const fields: Record<string, string> = {};
  for (const [name, value] of form.entries()) {
    if (typeof value === 'string') fields[name] = value;
  }
  const file = fileOf(form.get('file'));
  const inputUrl = fields['input_url'];
  if (!file && !inputUrl) {
    return detail(400, 'Either a file or an input_url must be provided.');
  }
  if (file && inputUrl) return detail(400, 'Provide either a file or an input_url, not both.');
  if (file && file.size === 0) return detail(400, 'The uploaded file is empty.');
  const webhookUrl = fields['webhook_url'] || undefined;
  if (webhookUrl !== undefined) {
    const why = checkWebhookUrl(webhookUrl);
    if (why) return detail(400, why);
  }
  const webhook: FakeWebhook | undefined = webhookUrl
    ? {
        url: webhookUrl,
        kind: 'legacy',
        signingSecret: undefined,
        events: undefined,
        headers: {},
        outputFormat: 'json',
      }
    : undefined;
  const job = context.createJob({
    api: 'v1-upload',
    name: file?.name ?? lastSegment(inputUrl ?? ''),
    tier: null,
    projectId: incoming.url.searchParams.get('project_id') ?? undefined,
    webhook,
    submission: { webhookUrl, fields, ...(file ? { file } : {}), ...seen(incoming) },
  });
  return { status: 200, body: jobV1Body(job) };
}

async function parseV2(context: RouteContext, incoming: Incoming): Promise<Answer> {
  let value: unknown;
  try {
    value = JSON.parse(incoming.body.toString('utf8'));
  } catch {
    return detail(422, [{ type: 'json_invalid', loc: ['body', 0], msg: 'JSON decode error' }]);
  }
  const parsed = parseConfiguration(value, 'body');
  if (!parsed.ok) return detail(parsed.refusal.status, parsed.refusal.detail);
  const { configuration } = parsed;
  const { file_id: fileId, source_url: sourceUrl } = configuration;
  if (!fileId && !sourceUrl) return detail(400, 'Either file_id or source_url must be provided.');
  if (fileId && sourceUrl) return detail(400, 'Provide either file_id or source_url, not both.');
  return createV2(context, incoming, 'v2-parse', configuration, fileId || lastSegment(sourceUrl));
}

async function uploadV2(context: RouteContext, incoming: Incoming): Promise<Answer> {
  const form = await readForm(incoming);
  if (!(form instanceof FormData)) return form;
  const file = fileOf(form.get('file'));
  if (!file) return detail(400, 'A file must be provided.');
  if (file.size === 0) return detail(400, 'The uploaded file is empty.');
  const raw = form.get('configuration');
  let value: unknown = {};
  if (typeof raw === 'string' && raw !== '') {
    try {
      value = JSON.parse(raw);
    } catch {
      return detail(400, 'configuration must be a JSON object (as a string form field).');
    }
  }
  const parsed = parseConfiguration(value, 'configuration');
  if (!parsed.ok) return detail(parsed.refusal.status, parsed.refusal.detail);
  return createV2(context, incoming, 'v2-upload', parsed.configuration, file.name, file);
}

function createV2(
  context: RouteContext,
  incoming: Incoming,
  api: FakeApi,
  configuration: ParseConfiguration,
  name: string,
  file?: UploadedFile,
): Answer {
  // LlamaCloud documents that only the first configuration is used today.
  const first = configuration.webhook_configurations?.[0];
  const webhook: FakeWebhook | undefined = first
    ? {
        url: first.webhook_url,
        kind: 'events',
        signingSecret: first.webhook_signing_secret ?? undefined,
        events: first.webhook_events ?? undefined,
        headers: first.webhook_headers ?? {},
        outputFormat: first.webhook_output_format ?? 'string',
      }
    : undefined;
  const job = context.createJob({
    api,
    name,
    tier: configuration.tier ?? null,
    projectId: incoming.url.searchParams.get('project_id') ?? undefined,
    webhook,
    submission: {
      webhookUrl: first?.webhook_url,
      ...(first?.webhook_signing_secret ? { signingSecret: first.webhook_signing_secret } : {}),
      ...(first?.webhook_output_format ? { outputFormat: first.webhook_output_format } : {}),
      ...(first?.webhook_events ? { events: first.webhook_events } : {}),
      ...(first?.webhook_headers ? { webhookHeaders: first.webhook_headers } : {}),
      fields: configuration,
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

function getJobV2(context: RouteContext, jobId: string, url: URL): Answer {
  const job = context.jobs.get(jobId);
  if (!job) return detail(404, `Job not found: ${jobId}`);
  const body: Record<string, unknown> = { job: jobV2Body(job) };
  if (hasResult(job)) {
    const wanted = new Set(expandValues(url));
    for (const part of EXPAND_PARTS) if (wanted.has(part)) body[part] = expandPart(job, part);
  }
  return { status: 200, body };
}

function listV2(context: RouteContext, url: URL): Answer {
  const statuses = new Set(url.searchParams.getAll('status').flatMap((s) => s.split(',')));
  const ids = new Set(url.searchParams.getAll('job_ids').flatMap((s) => s.split(',')));
  const pageSize = Math.max(1, Number(url.searchParams.get('page_size') ?? 50) || 50);
  const start = Number(url.searchParams.get('page_token') ?? 0) || 0;
  const matching = [...context.jobs.values()].filter(
    (job) =>
      (statuses.size === 0 || statuses.has(statusV2(job.state))) &&
      (ids.size === 0 || ids.has(job.id)),
  );
  const page = matching.slice(start, start + pageSize);
  const next = start + pageSize < matching.length ? String(start + pageSize) : null;
  return { status: 200, body: { items: page.map(jobV2Body), next_page_token: next } };
}

/** The query parameters, each with all its values. */
export function queryOf(url: URL): Record<string, string[]> {
  const query: Record<string, string[]> = {};
  for (const [name, value] of url.searchParams) (query[name] ??= []).push(value);
  return query;
}

function seen(incoming: Incoming): Pick<FakeSubmission, 'query' | 'headers'> {
  return { query: queryOf(incoming.url), headers: incoming.headers };
}

function lastSegment(url: string | null | undefined): string {
  if (!url) return 'document';
  try {
    return new URL(url).pathname.split('/').filter(Boolean).pop() ?? 'document';
  } catch {
    return 'document';
  }
}
