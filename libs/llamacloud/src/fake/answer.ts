import type { File } from 'node:buffer';
import { Request, type FormData } from 'undici';
import type { FakeApi, FakeJob, FakeSubmission, FakeWebhookConfig } from './types.js';
import type { FakeVersions } from './versions.js';

/** What a route answers: a status and a JSON body (errors are `{"detail": ...}`). */
export interface Answer {
  status: number;
  /** Sent as JSON; undefined sends no body (204). */
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
  webhookConfigs: Map<string, FakeWebhookConfig>;
  versions: FakeVersions;
  /** The project jobs land in without a `project_id` query parameter. */
  projectId: string;
  /** The fake's clock, as an ISO date. */
  timestamp(): string;
  createJob(input: {
    api: FakeApi;
    name: string;
    tier: string | null;
    version: string | null;
    projectId: string | undefined;
    webhooks: FakeJob['webhooks'];
    webhookConfigurationIds: readonly string[];
    submission: Omit<FakeSubmission, 'jobId' | 'api'>;
  }): FakeJob;
  cancelJob(job: FakeJob): void;
  deleteJob(job: FakeJob): void;
}

/** A `{"detail": ...}` answer. */
export const detail = (status: number, text: unknown): Answer => ({
  status,
  body: { detail: text },
});

/** The JSON body, or FastAPI's 422 for one that is not JSON. */
export function readJson(incoming: Incoming): { value: unknown } | Answer {
  try {
    return { value: JSON.parse(incoming.body.toString('utf8')) as unknown };
  } catch {
    return detail(422, [{ type: 'json_invalid', loc: ['body', 0], msg: 'JSON decode error' }]);
  }
}

/** The multipart form, parsed by undici as a server would. */
export async function readForm(incoming: Incoming): Promise<FormData | Answer> {
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

/** An uploaded file as the fake records it. */
export interface UploadedFile {
  name: string;
  size: number;
  contentType: string;
}

export function fileOf(value: string | File | null): UploadedFile | undefined {
  if (value === null || typeof value === 'string') return undefined;
  return { name: value.name, size: value.size, contentType: value.type };
}

/** The query parameters, each with all its values. */
export function queryOf(url: URL): Record<string, string[]> {
  const query: Record<string, string[]> = {};
  for (const [name, value] of url.searchParams) (query[name] ??= []).push(value);
  return query;
}

/** The query and headers of a create request, for its submission record. */
export function seen(incoming: Incoming): Pick<FakeSubmission, 'query' | 'headers'> {
  return { query: queryOf(incoming.url), headers: incoming.headers };
}

/** The last path segment of a URL (a document's name), or `document`. */
export function lastSegment(url: string | null | undefined): string {
  if (!url) return 'document';
  try {
    return new URL(url).pathname.split('/').filter(Boolean).pop() ?? 'document';
  } catch {
    return 'document';
  }
}
