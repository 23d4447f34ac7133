import { File } from 'node:buffer';
import { LlamaCloud, type APIPromise } from '@llamaindex/llama-cloud';
import type { Dispatcher } from 'undici';
import { sdkFetch, toLlamaCloudError } from './http.js';
import {
  answers,
  checkAnswer,
  resultsV1,
  type JobV1,
  type ResultKindV1,
  type ResultV1,
} from './responses.js';

/** The public LlamaCloud API (the official SDKs' default too). */
export const DEFAULT_BASE_URL = 'https://api.cloud.llamaindex.ai';
/** The default deadline of one call, answer body included. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** Options of {@link createLlamaCloudClient}. */
export interface LlamaCloudClientOptions {
  /**
   * LlamaCloud's base URL (a path prefix is kept), e.g. the EU region or a local fake.
   * @defaultValue 'https://api.cloud.llamaindex.ai'
   */
  baseUrl?: string;
  /** The `llx-...` API key, sent as `Authorization: Bearer`. It never appears in errors. */
  apiKey: string;
  /**
   * The undici dispatcher every call goes through (proxies, connection limits, the outbound
   * policy, tests). Borrowed: the client never closes it.
   * @defaultValue undici's global dispatcher
   */
  dispatcher?: Dispatcher;
  /**
   * Deadline of one call, answer body included, in milliseconds.
   * @defaultValue 30_000
   */
  timeoutMs?: number;
  /** Sent as the `organization_id` query parameter of every call, when set. */
  organizationId?: string;
  /** Sent as the `project_id` query parameter of every call, when set. */
  projectId?: string;
  /**
   * The clock, used to turn an HTTP-date `Retry-After` into seconds.
   * @defaultValue `Date.now`
   */
  now?: () => number;
}

/** A document to upload. */
export interface UploadFile {
  /** The file name LlamaCloud sees (its extension tells the document type). */
  name: string;
  content: Buffer | Uint8Array;
  /** @defaultValue 'application/octet-stream' */
  contentType?: string;
}

type Scoped<T> = Omit<T, 'organization_id' | 'project_id'>;

/** A v2 job's parameters, as the SDK types them (organization and project come from the options). */
export type CreateJobParams = Scoped<LlamaCloud.ParsingCreateParams>;
/** What `listJobsV2` filters on, as the SDK types it. */
export type ListJobsParams = Scoped<LlamaCloud.ParsingListParams>;

/** One page of `listJobsV2`. */
export interface JobsPage {
  items: LlamaCloud.ParsingListResponse[];
  /** Pass as `page_token` for the next page; undefined on the last one. */
  nextPageToken: string | undefined;
}

/** `uploadV1` input: a file or a URL to fetch it from, and the legacy callback URL. */
export interface UploadV1Input {
  file?: UploadFile;
  /** A public URL LlamaCloud downloads the document from (`input_url`), instead of `file`. */
  inputUrl?: string;
  /** The legacy `webhook_url`: https, a domain name (not an IP), under 200 characters. */
  webhookUrl: string;
  /** More flat form fields, sent as they are (`result_type`, `language`, ...). */
  extra?: Record<string, string>;
}

/**
 * The typed client of LlamaCloud's parse APIs. The v2 calls go through the official SDK's
 * `parsing` resource; the legacy v1 calls, which the SDK does not have, are this project's
 * (paths as in the last official client that had them, `/api/parsing/...`). It never retries
 * by itself, and every failure is a `LlamaCloudError`.
 */
export interface LlamaCloudClient {
  /** `POST /api/v2/parse` (JSON): a job on a `file_id` or `source_url`. */
  parseV2(params: CreateJobParams): Promise<LlamaCloud.ParsingCreateResponse>;
  /** `POST /api/v2/parse/upload` (multipart `file` + `configuration` JSON). */
  uploadV2(file: UploadFile, params: CreateJobParams): Promise<LlamaCloud.ParsingCreateResponse>;
  /** `GET /api/v2/parse/{job_id}`: the job, and the result parts asked for with `expand`. */
  getJobV2(jobId: string, options?: { expand?: string[] }): Promise<LlamaCloud.ParsingGetResponse>;
  /** `GET /api/v2/parse`: one page of the project's jobs. */
  listJobsV2(params?: ListJobsParams): Promise<JobsPage>;
  /** `POST /api/v2/parse/{job_id}/cancel`. */
  cancelJobV2(jobId: string): Promise<LlamaCloud.ParsingCancelResponse>;
  /** `GET /api/v2/parse/versions`: the versions each tier accepts, and what `latest` is. */
  listVersionsV2(): Promise<LlamaCloud.ParsingListVersionsResponse>;
  /** `POST /api/parsing/upload` (multipart) with the legacy `webhook_url`. */
  uploadV1(input: UploadV1Input): Promise<JobV1>;
  /** `GET /api/parsing/job/{job_id}`: the job's status. */
  getJobV1(jobId: string): Promise<JobV1>;
  /** `GET /api/parsing/job/{job_id}/result/<kind>`: the finished job's result. */
  getResultV1<K extends ResultKindV1>(jobId: string, kind: K): Promise<ResultV1[K]>;
}

type CallOptions = NonNullable<Parameters<LlamaCloud['parsing']['get']>[2]>;

/**
 * Creates a client of LlamaCloud's parse APIs.
 * @throws TypeError when `apiKey`, `baseUrl` or `timeoutMs` is unusable.
 */
export function createLlamaCloudClient(options: LlamaCloudClientOptions): LlamaCloudClient {
  const baseUrl = checkBaseUrl(options.baseUrl ?? DEFAULT_BASE_URL);
  const apiKey = checkApiKey(options.apiKey);
  const timeoutMs = checkTimeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const now = options.now ?? Date.now;
  const scope = {
    ...(options.organizationId !== undefined && { organization_id: options.organizationId }),
    ...(options.projectId !== undefined && { project_id: options.projectId }),
  };
  // Everything is given explicitly: the SDK reads LLAMA_CLOUD_* variables for what is not.
  const sdk = new LlamaCloud({
    apiKey,
    baseURL: baseUrl,
    fetch: sdkFetch(options.dispatcher),
    maxRetries: 0,
    timeout: Math.ceil(timeoutMs),
    logLevel: 'off',
  });

  /**
   * One call: the SDK's request under a deadline that covers the answer's body too (the SDK's
   * own timeout stops at the headers), its answer checked, its failure a LlamaCloudError.
   */
  const call = async <T>(
    what: string,
    request: (options: CallOptions) => APIPromise<unknown>,
    check: (value: unknown) => T,
  ): Promise<T> => {
    const deadline = AbortSignal.timeout(timeoutMs);
    let value: unknown;
    try {
      value = await request({ signal: deadline });
    } catch (error) {
      throw toLlamaCloudError(error, { what, baseUrl, apiKey, timeoutMs, deadline, now });
    }
    return check(value);
  };
  const checked =
    <T>(schema: Parameters<typeof checkAnswer>[0], what: string) =>
    (value: unknown) =>
      checkAnswer<T>(schema, value, what);
  const jobPath = (jobId: string) => `/api/parsing/job/${encodeURIComponent(jobId)}`;

  return {
    parseV2(params) {
      const what = 'POST /api/v2/parse';
      return call(
        what,
        (request) => sdk.parsing.create({ ...params, ...scope }, request),
        checked(answers.jobV2, what),
      );
    },

    uploadV2(file, params) {
      const what = 'POST /api/v2/parse/upload';
      const upload = new File([file.content], file.name, {
        type: file.contentType ?? 'application/octet-stream',
      });
      return call(
        what,
        (request) => sdk.parsing.create({ ...params, ...scope, upload_file: upload }, request),
        checked(answers.jobV2, what),
      );
    },

    getJobV2(jobId, { expand } = {}) {
      const what = 'GET /api/v2/parse/{job_id}';
      return call(
        what,
        (request) => sdk.parsing.get(jobId, { ...(expand && { expand }), ...scope }, request),
        checked(answers.getV2, what),
      );
    },

    async listJobsV2(params = {}) {
      const what = 'GET /api/v2/parse';
      const page = await call(
        what,
        (request) => sdk.parsing.list({ ...params, ...scope }, request),
        checked<LlamaCloud.ParsingListResponsesPaginatedCursor>(answers.listV2, what),
      );
      return { items: page.items, nextPageToken: page.next_page_token || undefined };
    },

    cancelJobV2(jobId) {
      const what = 'POST /api/v2/parse/{job_id}/cancel';
      return call(
        what,
        (request) => sdk.parsing.cancel(jobId, scope, request),
        checked(answers.jobV2, what),
      );
    },

    listVersionsV2() {
      const what = 'GET /api/v2/parse/versions';
      return call(
        what,
        (request) => sdk.parsing.listVersions({ ...request, query: scope }),
        checked(answers.versions, what),
      );
    },

    uploadV1(input) {
      const what = 'POST /api/parsing/upload';
      const form = new FormData();
      if (input.file) {
        const type = input.file.contentType ?? 'application/octet-stream';
        form.append('file', new Blob([input.file.content], { type }), input.file.name);
      }
      if (input.inputUrl !== undefined) form.append('input_url', input.inputUrl);
      form.append('webhook_url', input.webhookUrl);
      for (const [name, value] of Object.entries(input.extra ?? {})) form.append(name, value);
      return call(
        what,
        (request) => sdk.post('/api/parsing/upload', { ...request, query: scope, body: form }),
        checked(answers.jobV1, what),
      );
    },

    getJobV1(jobId) {
      const what = 'GET /api/parsing/job/{job_id}';
      return call(
        what,
        (request) => sdk.get(jobPath(jobId), { ...request, query: scope }),
        checked(answers.jobV1, what),
      );
    },

    getResultV1<K extends ResultKindV1>(jobId: string, kind: K): Promise<ResultV1[K]> {
      const what = `GET /api/parsing/job/{job_id}/result/${kind}`;
      return call(
        what,
        (request) => sdk.get(`${jobPath(jobId)}/result/${kind}`, { ...request, query: scope }),
        checked<ResultV1[K]>(resultsV1[kind], what),
      );
    },
  };
}

function checkBaseUrl(baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new TypeError(`baseUrl ${JSON.stringify(baseUrl)} is not a URL.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TypeError(`baseUrl must be http(s), got ${url.protocol}`);
  }
  return url.href.replace(/\/+$/, '');
}

function checkApiKey(apiKey: string): string {
  if (typeof apiKey !== 'string' || apiKey.trim() === '' || /[\r\n]/.test(apiKey)) {
    throw new TypeError('apiKey must be a non-empty single-line string (a LlamaCloud API key).');
  }
  return apiKey;
}

function checkTimeout(timeoutMs: number): number {
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new TypeError(`timeoutMs must be a positive number of milliseconds, got ${timeoutMs}.`);
  }
  return timeoutMs;
}
