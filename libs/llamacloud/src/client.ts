import { Blob } from 'node:buffer';
import { FormData, type Dispatcher } from 'undici';
import type { z } from 'zod';
import { send, type Transport } from './http.js';
import {
  jobResultV2Schema,
  jobV1Schema,
  jobV2Schema,
  resultV1Schemas,
  type JobResultV2,
  type JobV1,
  type JobV2,
  type ResultKindV1,
  type ResultV1,
} from './wire.js';

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
   * The undici dispatcher to send with (proxies, connection limits, tests). Borrowed: the client
   * never closes it.
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

/** One v2 `webhook_configurations` entry, in camelCase. */
export interface WebhookConfiguration {
  /** `webhook_url`: where LlamaCloud POSTs the events. */
  url: string;
  /** `webhook_signing_secret`: when set, each delivery carries `LC-Signature: sha256=<hex>`. */
  signingSecret?: string;
  /** `webhook_events`: the event types to send (`parse.success`, ...); omitted = all. */
  events?: readonly string[];
  /** `webhook_headers`: custom headers echoed on every delivery. */
  headers?: Readonly<Record<string, string>>;
  /**
   * `webhook_output_format`: `string` sends the envelope as a JSON string literal.
   * @defaultValue LlamaCloud's default, `'string'`
   */
  outputFormat?: 'string' | 'json';
}

/** The v2 parse configuration shared by `parseV2` and `uploadV2`. */
export interface ParseConfigurationV2 {
  /** The parsing tier, e.g. `fast`, `cost_effective`, `agentic`, `agentic_plus`. */
  tier?: string;
  /** The parser version, e.g. `latest`. */
  version?: string;
  /** Where and how LlamaCloud calls back. */
  webhook: WebhookConfiguration;
  /** More top-level configuration fields, sent as they are (`processing_options`, ...). */
  extra?: Readonly<Record<string, unknown>>;
}

/** `parseV2` input: a file already uploaded to LlamaCloud (`fileId`) or a URL (`sourceUrl`). */
export interface ParseV2Input extends ParseConfigurationV2 {
  fileId?: string;
  sourceUrl?: string;
}

/** `uploadV2` input: the document and its configuration. */
export interface UploadV2Input {
  file: UploadFile;
  configuration: ParseConfigurationV2;
}

/** Options of `getJobV2`. */
export interface GetJobV2Options {
  /** The result parts to include (`text`, `markdown`, `items`, `metadata`, `job_metadata`, ...). */
  expand?: readonly string[];
}

/** The typed client of LlamaCloud's parse APIs. It never retries by itself. */
export interface LlamaCloudClient {
  /** `POST /api/v1/parsing/upload` (multipart) with the legacy `webhook_url`. */
  uploadV1(input: UploadV1Input): Promise<JobV1>;
  /** `POST /api/v2/parse` (JSON) with `webhook_configurations`. */
  parseV2(input: ParseV2Input): Promise<JobV2>;
  /** `POST /api/v2/parse/upload` (multipart `file` + `configuration` JSON string). */
  uploadV2(input: UploadV2Input): Promise<JobV2>;
  /** `GET /api/v2/parse/{job_id}`: the job, and the result parts asked for with `expand`. */
  getJobV2(jobId: string, options?: GetJobV2Options): Promise<JobResultV2>;
  /** `GET /api/v1/parsing/job/{job_id}`: the job's status. */
  getJobV1(jobId: string): Promise<JobV1>;
  /** `GET /api/v1/parsing/job/{job_id}/result/<kind>`: the finished job's result. */
  getResultV1<K extends ResultKindV1>(jobId: string, kind: K): Promise<ResultV1[K]>;
}

/**
 * Creates a client of LlamaCloud's parse APIs.
 * @throws TypeError when `apiKey`, `baseUrl` or `timeoutMs` is unusable.
 */
export function createLlamaCloudClient(options: LlamaCloudClientOptions): LlamaCloudClient {
  const transport: Transport = {
    baseUrl: checkBaseUrl(options.baseUrl ?? DEFAULT_BASE_URL),
    apiKey: checkApiKey(options.apiKey),
    dispatcher: options.dispatcher,
    timeoutMs: checkTimeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    organizationId: options.organizationId,
    projectId: options.projectId,
    now: options.now ?? Date.now,
  };

  return {
    uploadV1(input) {
      const form = new FormData();
      if (input.file) appendFile(form, input.file);
      if (input.inputUrl !== undefined) form.append('input_url', input.inputUrl);
      form.append('webhook_url', input.webhookUrl);
      for (const [name, value] of Object.entries(input.extra ?? {})) form.append(name, value);
      return send(transport, {
        method: 'POST',
        path: '/api/v1/parsing/upload',
        body: { form },
        schema: jobV1Schema,
      });
    },

    parseV2(input) {
      const { fileId, sourceUrl, ...configuration } = input;
      const json = withoutUndefined({
        file_id: fileId,
        source_url: sourceUrl,
        ...configurationToWire(configuration),
      });
      return send(transport, {
        method: 'POST',
        path: '/api/v2/parse',
        body: { json },
        schema: jobV2Schema,
      });
    },

    uploadV2(input) {
      const form = new FormData();
      appendFile(form, input.file);
      form.append('configuration', JSON.stringify(configurationToWire(input.configuration)));
      return send(transport, {
        method: 'POST',
        path: '/api/v2/parse/upload',
        body: { form },
        schema: jobV2Schema,
      });
    },

    getJobV2(jobId, { expand } = {}) {
      return send(transport, {
        method: 'GET',
        path: `/api/v2/parse/${encodeURIComponent(jobId)}`,
        query: { expand },
        schema: jobResultV2Schema,
      });
    },

    getJobV1(jobId) {
      return send(transport, {
        method: 'GET',
        path: `/api/v1/parsing/job/${encodeURIComponent(jobId)}`,
        schema: jobV1Schema,
      });
    },

    getResultV1<K extends ResultKindV1>(jobId: string, kind: K): Promise<ResultV1[K]> {
      // The schema is picked by `kind`, so its output is ResultV1[K]; TypeScript cannot follow.
      const schema = resultV1Schemas[kind] as unknown as z.ZodType<ResultV1[K]>;
      return send(transport, {
        method: 'GET',
        path: `/api/v1/parsing/job/${encodeURIComponent(jobId)}/result/${kind}`,
        schema,
      });
    },
  };
}

/** The configuration as LlamaCloud's snake_case JSON (undefined fields left out). */
function configurationToWire(configuration: ParseConfigurationV2): Record<string, unknown> {
  const { webhook } = configuration;
  return withoutUndefined({
    ...configuration.extra,
    tier: configuration.tier,
    version: configuration.version,
    webhook_configurations: [
      withoutUndefined({
        webhook_url: webhook.url,
        webhook_signing_secret: webhook.signingSecret,
        webhook_events: webhook.events,
        webhook_headers: webhook.headers,
        webhook_output_format: webhook.outputFormat,
      }),
    ],
  });
}

function appendFile(form: FormData, file: UploadFile): void {
  const type = file.contentType ?? 'application/octet-stream';
  form.append('file', new Blob([file.content], { type }), file.name);
}

function withoutUndefined(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined));
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
