import { FormData } from 'undici';
import {
  detail,
  fileOf,
  lastSegment,
  readForm,
  seen,
  type Answer,
  type Incoming,
  type RouteContext,
} from './answer.js';
import { hasResult, jobV1Body, resultV1Body } from './results.js';
import type { FakeWebhook } from './types.js';
import { checkWebhookUrl } from './validation.js';

/**
 * The legacy v1 API, which the SDK does not have: `POST .../upload`, `GET .../job/{id}` and
 * `GET .../job/{id}/result/<kind>`, under `/api/parsing/` (the last official client's paths) and
 * `/api/v1/parsing/`. `rest` is the path after that prefix.
 */
export async function routeV1(
  context: RouteContext,
  incoming: Incoming,
  rest: readonly string[],
): Promise<Answer | undefined> {
  const is = (method: string) => incoming.method === method;
  if (rest[0] === 'upload' && rest.length === 1) {
    return is('POST') ? uploadV1(context, incoming) : detail(405, 'Method Not Allowed');
  }
  if (rest[0] === 'job' && rest[1] !== undefined && is('GET')) {
    // v2 jobs are not v1 jobs: the v1 API does not know them.
    const job = context.jobs.get(rest[1]);
    if (!job || job.api !== 'v1-upload') return detail(404, `Job not found: ${rest[1]}`);
    if (rest.length === 2) return { status: 200, body: jobV1Body(job) };
    const kind = rest[3];
    if (rest[2] === 'result' && (kind === 'markdown' || kind === 'text' || kind === 'json')) {
      if (!hasResult(job)) {
        return detail(404, `Job ${job.id} has no result: its status is ${jobV1Body(job).status}`);
      }
      return { status: 200, body: resultV1Body(job, kind) };
    }
  }
  return undefined;
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
  const webhooks: FakeWebhook[] = webhookUrl
    ? [
        {
          url: webhookUrl,
          kind: 'legacy',
          signingSecret: undefined,
          events: undefined,
          headers: {},
          outputFormat: 'json',
        },
      ]
    : [];
  const job = context.createJob({
    api: 'v1-upload',
    name: file?.name ?? lastSegment(inputUrl ?? ''),
    tier: null,
    version: null,
    projectId: incoming.url.searchParams.get('project_id') ?? undefined,
    webhooks,
    webhookConfigurationIds: [],
    submission: { webhookUrl, fields, ...(file ? { file } : {}), ...seen(incoming) },
  });
  return { status: 200, body: jobV1Body(job) };
}
