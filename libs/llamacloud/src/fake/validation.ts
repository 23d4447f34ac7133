import { isIP } from 'node:net';
import type { LlamaCloud } from '@llamaindex/llama-cloud';
import { z } from 'zod';
import type { FakeVersions } from './versions.js';

/**
 * The fake's checks of what clients send, as strict as the SDK's types say the API is: required
 * fields, their types, the closed enums, and LlamaCloud's stated rules for webhook URLs. A
 * refusal is the `{"detail": ...}` body with its status: 422 with FastAPI's list of issues for
 * a body that does not match the schema, 400 with a sentence for a broken rule.
 */
export interface Refusal {
  status: 400 | 404 | 422;
  detail: unknown;
}

/** One entry of FastAPI's 422 `detail` list. */
export interface ValidationIssue {
  type: string;
  loc: Array<string | number>;
  msg: string;
  input?: unknown;
  ctx?: Record<string, unknown>;
}

/** LlamaCloud's stated limit: the whole webhook URL must be under 200 characters. */
export const MAX_WEBHOOK_URL_LENGTH = 199;

/**
 * Checks a webhook URL against LlamaCloud's stated rules: https, a domain name (not an IP),
 * under 200 characters. Returns why not, or undefined when it passes. Whether localhost or
 * private names are refused is not documented, so they pass.
 */
export function checkWebhookUrl(url: string, field = 'webhook_url'): string | undefined {
  if (url.length > MAX_WEBHOOK_URL_LENGTH) {
    return `Invalid ${field}: the URL must be under 200 characters (got ${url.length}).`;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `Invalid ${field}: ${JSON.stringify(url)} is not a valid URL.`;
  }
  if (parsed.protocol !== 'https:') {
    return `Invalid ${field}: the URL must use https (got ${parsed.protocol.slice(0, -1)}).`;
  }
  if (isIP(parsed.hostname.replace(/^\[|\]$/g, '')) !== 0) {
    return `Invalid ${field}: the host must be a domain name, not an IP address.`;
  }
  return undefined;
}

// The closed enums, keyed by the SDK's unions: an SDK upgrade that changes one fails the type
// check here until the fake follows.
type OutputFormat = NonNullable<
  LlamaCloud.ParsingCreateParams.WebhookConfiguration['webhook_output_format']
>;
const OUTPUT_FORMATS: Record<OutputFormat, true> = { json: true, string: true };
type ListStatus = NonNullable<LlamaCloud.ParsingListParams['status']>;
const LIST_STATUSES: Record<ListStatus, true> = {
  PENDING: true,
  RUNNING: true,
  COMPLETED: true,
  FAILED: true,
  CANCELLED: true,
};
type SavedWebhookEvent = NonNullable<
  LlamaCloud.WebhookConfigCreateParams['webhook_events']
>[number];
const SAVED_WEBHOOK_EVENTS: Record<SavedWebhookEvent, true> = {
  'batch.cancelled': true,
  'batch.error': true,
  'batch.pending': true,
  'batch.running': true,
  'batch.success': true,
  'classify.cancelled': true,
  'classify.error': true,
  'classify.partial_success': true,
  'classify.pending': true,
  'classify.running': true,
  'classify.success': true,
  'extract.cancelled': true,
  'extract.error': true,
  'extract.partial_success': true,
  'extract.pending': true,
  'extract.success': true,
  'parse.cancelled': true,
  'parse.error': true,
  'parse.partial_success': true,
  'parse.pending': true,
  'parse.running': true,
  'parse.success': true,
  'sheets.cancelled': true,
  'sheets.error': true,
  'sheets.partial_success': true,
  'sheets.pending': true,
  'sheets.success': true,
  'split.cancelled': true,
  'split.error': true,
  'split.pending': true,
  'split.processing': true,
  'split.success': true,
  unmapped_event: true,
};

const keys = <T extends string>(record: Record<T, true>) => Object.keys(record) as [T, ...T[]];

const webhookConfigurationSchema = z.looseObject({
  webhook_url: z.string().nullish(),
  webhook_events: z.array(z.string()).nullish(),
  webhook_headers: z.record(z.string(), z.unknown()).nullish(),
  webhook_output_format: z.enum(keys(OUTPUT_FORMATS)).nullish(),
  webhook_signing_secret: z.string().nullish(),
});

const options = z.looseObject({}).optional();

/** The body of `POST /api/v2/parse`, or the `configuration` of an upload, for these versions. */
export function createParamsSchema(versions: FakeVersions) {
  const tiers = Object.keys(versions).filter((key) => key !== 'latest') as [string, ...string[]];
  return z
    .looseObject({
      tier: z.enum(tiers),
      version: z.string(),
      agentic_options: options,
      client_name: z.string().nullish(),
      configuration_id: z.string().nullish(),
      crop_box: options,
      disable_cache: z.boolean().nullish(),
      fast_options: z.unknown().optional(),
      file_id: z.string().nullish(),
      http_proxy: z.string().nullish(),
      input_options: options,
      output_options: options,
      page_ranges: options,
      processing_control: options,
      processing_options: options,
      source_url: z.string().nullish(),
      user_metadata: z.record(z.string(), z.string()).nullish(),
      webhook_configuration_ids: z.array(z.string()).nullish(),
      webhook_configurations: z.array(webhookConfigurationSchema).optional(),
    })
    .superRefine((params, context) => {
      const accepted = (versions as unknown as Record<string, readonly string[]>)[params.tier];
      if (params.version === 'latest' || accepted?.includes(params.version)) return;
      context.addIssue({
        code: 'custom',
        path: ['version'],
        input: params.version,
        message: `version ${JSON.stringify(params.version)} is not a version of the ${params.tier} tier: use latest or one that GET /api/v2/parse/versions lists`,
      });
    });
}
/** A v2 job's parameters as the fake read them. */
export type CreateParams = z.output<ReturnType<typeof createParamsSchema>>;

/** The query of `GET /api/v2/parse`. */
export const listQuerySchema = z.looseObject({
  status: z.enum(keys(LIST_STATUSES)).optional(),
  page_size: z.coerce.number().int().min(1).max(1000).optional(),
  page_token: z.string().optional(),
  created_at_on_or_after: z.iso.datetime({ offset: true }).optional(),
  created_at_on_or_before: z.iso.datetime({ offset: true }).optional(),
});

const savedEvents = z
  .array(z.enum(keys(SAVED_WEBHOOK_EVENTS)))
  .min(1)
  .nullish();

/** The body of `POST /api/v1/beta/webhook-configs`. */
export const webhookConfigCreateSchema = z.looseObject({
  webhook_url: z.string(),
  webhook_events: savedEvents,
  webhook_headers: z.record(z.string(), z.string()).nullish(),
  webhook_output_format: z.enum(keys(OUTPUT_FORMATS)).nullish(),
  webhook_signing_secret: z.string().nullish(),
});

/** The body of `PUT /api/v1/beta/webhook-configs/{id}`: only the fields present change. */
export const webhookConfigUpdateSchema = webhookConfigCreateSchema.extend({
  webhook_url: z.string().nullish(),
});

/**
 * Parses `value` with `schema`, or says why not as FastAPI does: 422 with one issue per
 * problem, `loc` starting at `where` (`['body']`, `['query']`, ...).
 */
export function validate<T>(
  schema: z.ZodType<T>,
  value: unknown,
  where: Array<string | number>,
): { ok: true; value: T } | { ok: false; refusal: Refusal } {
  const parsed = schema.safeParse(value, { reportInput: true });
  if (parsed.success) return { ok: true, value: parsed.data };
  return {
    ok: false,
    refusal: { status: 422, detail: parsed.error.issues.map((issue) => toFastApi(issue, where)) },
  };
}

const TYPES: Record<string, [string, string]> = {
  string: ['string_type', 'Input should be a valid string'],
  array: ['list_type', 'Input should be a valid list'],
  object: ['dict_type', 'Input should be a valid dictionary'],
  record: ['dict_type', 'Input should be a valid dictionary'],
  boolean: ['bool_type', 'Input should be a valid boolean'],
  number: ['int_parsing', 'Input should be a valid integer'],
  int: ['int_parsing', 'Input should be a valid integer'],
};

function toFastApi(issue: z.core.$ZodIssue, where: Array<string | number>): ValidationIssue {
  const loc = [...where, ...issue.path.map((key) => (typeof key === 'symbol' ? String(key) : key))];
  const input = (issue as { input?: unknown }).input;
  const withInput = input === undefined ? {} : { input };
  const absent = issue.code === 'invalid_type' || issue.code === 'invalid_value';
  if (absent && input === undefined) return { type: 'missing', loc, msg: 'Field required' };
  switch (issue.code) {
    case 'invalid_type': {
      const [type, msg] = TYPES[issue.expected] ?? [`${issue.expected}_type`, issue.message];
      return { type, loc, msg, ...withInput };
    }
    case 'invalid_value': {
      const values = issue.values.map((value) => `'${String(value)}'`);
      const expected =
        values.length > 1
          ? `${values.slice(0, -1).join(', ')} or ${values.at(-1)}`
          : values.join('');
      return {
        type: values.length > 1 ? 'enum' : 'literal_error',
        loc,
        msg: `Input should be ${expected}`,
        ...withInput,
        ctx: { expected },
      };
    }
    case 'too_small':
      return {
        type: 'too_short',
        loc,
        msg: `List should have at least ${String(issue.minimum)} item after validation, not 0`,
        ...withInput,
      };
    default:
      return { type: 'value_error', loc, msg: `Value error, ${issue.message}`, ...withInput };
  }
}
