import type { LlamaCloud } from '@llamaindex/llama-cloud';
import { z } from 'zod';
import { LlamaCloudError } from './errors.js';

/**
 * The answers the client relies on. Their types are the official SDK's; the SDK trusts what the
 * server sends, so the fields the project branches on (`id`, `status`) are checked here at run
 * time. Extra fields are kept: LlamaCloud adds fields over time.
 */

/** A v2 parse job (`job` of `GET /api/v2/parse/{job_id}`). */
export type JobV2 = LlamaCloud.ParsingGetResponse.Job;
/** A status of a v2 parse job. */
export type JobStatusV2 = JobV2['status'];
/** A v1 parsing job (`POST /api/parsing/upload`, `GET /api/parsing/job/{job_id}`). */
export type JobV1 = LlamaCloud.ParsingJob;
/** A status of a v1 parsing job. */
export type JobStatusV1 = LlamaCloud.StatusEnum;

// Keyed by the SDK's unions: a status added or dropped there fails the type check here.
const STATUSES_V2: Record<JobStatusV2, true> = {
  PENDING: true,
  RUNNING: true,
  COMPLETED: true,
  FAILED: true,
  CANCELLED: true,
};
const STATUSES_V1: Record<JobStatusV1, true> = {
  PENDING: true,
  SUCCESS: true,
  ERROR: true,
  PARTIAL_SUCCESS: true,
  CANCELLED: true,
};

/** Statuses of a v2 parse job, as the SDK lists them. */
export const JOB_STATUSES_V2 = Object.keys(STATUSES_V2) as readonly JobStatusV2[];
/** Statuses of a v1 parsing job, as the SDK lists them. */
export const JOB_STATUSES_V1 = Object.keys(STATUSES_V1) as readonly JobStatusV1[];

const statusOf = <T extends string>(statuses: readonly T[]) =>
  z.string().refine((value): value is T => (statuses as readonly string[]).includes(value), {
    message: `expected one of ${statuses.join(', ')}`,
  });

const jobV2 = z.looseObject({ id: z.string().min(1), status: statusOf(JOB_STATUSES_V2) });
const jobV1 = z.looseObject({ id: z.string().min(1), status: statusOf(JOB_STATUSES_V1) });

/** The answer checks, by what the answer is. */
export const answers = {
  jobV2,
  jobV1,
  getV2: z.looseObject({ job: jobV2 }),
  listV2: z.looseObject({ items: z.array(jobV2) }),
  versions: z.looseObject({ latest: z.looseObject({}) }),
} as const;

/** `job_metadata` of a v1 result (the SDK has no v1 results: these shapes are the project's). */
export interface JobMetadataV1 {
  jobPages: number;
  jobAutoModeTriggeredPages: number;
  jobIsCacheHit: boolean;
}

/** One page of a v1 JSON result, as received (`page`, `text`, `md`, `images`, ...). */
export type JsonPageV1 = { page: number; text?: string; md?: string } & Record<string, unknown>;

/** The v1 result kinds: `GET /api/parsing/job/{job_id}/result/<kind>`. */
export type ResultKindV1 = 'markdown' | 'text' | 'json';

/** What `getResultV1(jobId, kind)` returns, per kind. */
export interface ResultV1 {
  markdown: { markdown: string; jobMetadata: JobMetadataV1 };
  text: { text: string; jobMetadata: JobMetadataV1 };
  json: { pages: JsonPageV1[]; jobMetadata: JobMetadataV1 };
}

const jobMetadataV1 = z
  .looseObject({
    job_pages: z.number(),
    job_auto_mode_triggered_pages: z.number(),
    job_is_cache_hit: z.boolean(),
  })
  .transform((metadata): JobMetadataV1 => ({
    jobPages: metadata.job_pages,
    jobAutoModeTriggeredPages: metadata.job_auto_mode_triggered_pages,
    jobIsCacheHit: metadata.job_is_cache_hit,
  }));

/** The v1 result bodies, turned into {@link ResultV1}. */
export const resultsV1: { [K in ResultKindV1]: z.ZodType<ResultV1[K]> } = {
  markdown: z
    .looseObject({ markdown: z.string(), job_metadata: jobMetadataV1 })
    .transform((body) => ({ markdown: body.markdown, jobMetadata: body.job_metadata })),
  text: z
    .looseObject({ text: z.string(), job_metadata: jobMetadataV1 })
    .transform((body) => ({ text: body.text, jobMetadata: body.job_metadata })),
  json: z
    .looseObject({
      pages: z.array(
        z.looseObject({ page: z.number(), text: z.string().optional(), md: z.string().optional() }),
      ),
      job_metadata: jobMetadataV1,
    })
    .transform((body) => ({ pages: body.pages as JsonPageV1[], jobMetadata: body.job_metadata })),
};

/**
 * `value` when it passes `schema` (the schema's output, for the v1 results; the answer as
 * received otherwise), or `LLAMACLOUD_BAD_RESPONSE`.
 */
export function checkAnswer<T>(schema: z.ZodType<unknown>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 5)
      .map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`)
      .join('; ');
    throw new LlamaCloudError(
      'LLAMACLOUD_BAD_RESPONSE',
      `LlamaCloud answered ${what} but not with the documented shape (${issues}). ` +
        'Its API may have changed; check this client against the current API reference.',
      { cause: parsed.error },
    );
  }
  return parsed.data as T;
}
