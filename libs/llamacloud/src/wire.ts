import { z } from 'zod';

/**
 * The shapes of LlamaCloud's answers that the client relies on, validated with zod and turned
 * into camelCase. Extra fields are accepted (LlamaCloud adds fields over time); missing optional
 * ones become `null`.
 */

/** Statuses of a v1 parsing job (`GET /api/v1/parsing/job/{job_id}`). */
export const JOB_STATUSES_V1 = [
  'PENDING',
  'SUCCESS',
  'ERROR',
  'PARTIAL_SUCCESS',
  'CANCELLED',
] as const;
/** A status of a v1 parsing job. */
export type JobStatusV1 = (typeof JOB_STATUSES_V1)[number];

/** Statuses of a v2 parse job (`GET /api/v2/parse/{job_id}`). */
export const JOB_STATUSES_V2 = ['PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'] as const;
/** A status of a v2 parse job. */
export type JobStatusV2 = (typeof JOB_STATUSES_V2)[number];

const nullableString = z
  .string()
  .nullish()
  .transform((value) => value ?? null);

/** A v1 job as `POST /api/v1/parsing/upload` and `GET /api/v1/parsing/job/{id}` return it. */
export const jobV1Schema = z
  .looseObject({
    id: z.string().min(1),
    status: z.enum(JOB_STATUSES_V1),
    error_code: nullableString,
    error_message: nullableString,
  })
  .transform((job) => ({
    id: job.id,
    status: job.status,
    errorCode: job.error_code,
    errorMessage: job.error_message,
  }));
/** A v1 parsing job. `errorCode` and `errorMessage` are set when it failed. */
export type JobV1 = z.output<typeof jobV1Schema>;

/** A v2 job as `POST /api/v2/parse` returns it, and as `job` of `GET /api/v2/parse/{id}`. */
export const jobV2Schema = z
  .looseObject({
    id: z.string().min(1),
    project_id: nullableString,
    status: z.enum(JOB_STATUSES_V2),
    created_at: nullableString,
    error_message: nullableString,
    name: nullableString,
    tier: nullableString,
    updated_at: nullableString,
  })
  .transform((job) => ({
    id: job.id,
    projectId: job.project_id,
    status: job.status,
    createdAt: job.created_at,
    errorMessage: job.error_message,
    name: job.name,
    tier: job.tier,
    updatedAt: job.updated_at,
  }));
/** A v2 parse job. `errorMessage` is set when it failed (v2 has no error code). */
export type JobV2 = z.output<typeof jobV2Schema>;

const markdownPageSchema = z.union([
  z.looseObject({ page_number: z.number(), success: z.literal(true), markdown: z.string() }),
  z.looseObject({ page_number: z.number(), success: z.literal(false), error: z.string() }),
]);

/** `markdown` of an expanded v2 job: per page, its markdown or why it failed. */
export type MarkdownPagesV2 = { pages: Array<z.output<typeof markdownPageSchema>> };

/**
 * `GET /api/v2/parse/{id}`: `job` in camelCase; the parts asked for with `expand` as received
 * (snake_case keys, unknown parts kept).
 */
export const jobResultV2Schema = z
  .looseObject({
    job: jobV2Schema,
    markdown: z.looseObject({ pages: z.array(markdownPageSchema) }).nullish(),
    text: z
      .looseObject({ pages: z.array(z.looseObject({ page_number: z.number(), text: z.string() })) })
      .nullish(),
    markdown_full: z.string().nullish(),
    text_full: z.string().nullish(),
  })
  .transform((body) => body as typeof body & Record<string, unknown>);
/** What `GET /api/v2/parse/{id}` answers: the job, plus the expanded result parts. */
export type JobResultV2 = z.output<typeof jobResultV2Schema>;

const jobMetadataV1Schema = z
  .looseObject({
    job_pages: z.number(),
    job_auto_mode_triggered_pages: z.number(),
    job_is_cache_hit: z.boolean(),
  })
  .transform((metadata) => ({
    jobPages: metadata.job_pages,
    jobAutoModeTriggeredPages: metadata.job_auto_mode_triggered_pages,
    jobIsCacheHit: metadata.job_is_cache_hit,
  }));
/** `job_metadata` of a v1 result, in camelCase. */
export type JobMetadataV1 = z.output<typeof jobMetadataV1Schema>;

/** One page of a v1 JSON result, as received (`page`, `text`, `md`, `images`, ...). */
export type JsonPageV1 = { page: number; text?: string; md?: string } & Record<string, unknown>;

/** The v1 result kinds: `GET /api/v1/parsing/job/{id}/result/<kind>`. */
export type ResultKindV1 = 'markdown' | 'text' | 'json';

export const resultV1Schemas = {
  markdown: z
    .looseObject({ markdown: z.string(), job_metadata: jobMetadataV1Schema })
    .transform((body) => ({ markdown: body.markdown, jobMetadata: body.job_metadata })),
  text: z
    .looseObject({ text: z.string(), job_metadata: jobMetadataV1Schema })
    .transform((body) => ({ text: body.text, jobMetadata: body.job_metadata })),
  json: z
    .looseObject({
      pages: z.array(
        z.looseObject({ page: z.number(), text: z.string().optional(), md: z.string().optional() }),
      ),
      job_metadata: jobMetadataV1Schema,
    })
    .transform((body) => ({ pages: body.pages as JsonPageV1[], jobMetadata: body.job_metadata })),
} as const;

/** What `getResultV1(jobId, kind)` returns, per kind. */
export interface ResultV1 {
  markdown: { markdown: string; jobMetadata: JobMetadataV1 };
  text: { text: string; jobMetadata: JobMetadataV1 };
  json: { pages: JsonPageV1[]; jobMetadata: JobMetadataV1 };
}

/** LlamaCloud's error body: `{"detail": ...}` (a sentence, or FastAPI's validation issues). */
export const errorBodySchema = z.looseObject({ detail: z.unknown() });

/** A short, human list of what did not match a schema. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`)
    .join('; ');
}
