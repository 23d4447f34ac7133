import type { FakeJob, FakeJobState, FakePage, FakeParseResult } from './types.js';

/**
 * Renders a fake job and its result in LlamaCloud's wire formats: the v1 and v2 job objects, the
 * v2 `expand` parts, the v1 `/result/<kind>` bodies and the legacy v1 callback body.
 */

/** The page a job completed without a result gets. */
const DEFAULT_PAGE: FakePage = { text: 'Page 1 text', markdown: '# Page 1\n\nPage 1 text' };

// LlamaParse's default page separator in whole-document markdown.
const PAGE_SEPARATOR = '\n\n---\n\n';

const STATUS_V1: Record<FakeJobState, string> = {
  pending: 'PENDING',
  running: 'PENDING',
  succeeded: 'SUCCESS',
  partial: 'PARTIAL_SUCCESS',
  failed: 'ERROR',
  cancelled: 'CANCELLED',
};

// v2 knows no partial status: a job with failed pages is COMPLETED, its pages say which failed.
const STATUS_V2: Record<FakeJobState, string> = {
  pending: 'PENDING',
  running: 'RUNNING',
  succeeded: 'COMPLETED',
  partial: 'COMPLETED',
  failed: 'FAILED',
  cancelled: 'CANCELLED',
};

/** The v1 status of a job state. */
export function statusV1(state: FakeJobState): string {
  return STATUS_V1[state];
}

/** The v2 status of a job state. */
export function statusV2(state: FakeJobState): string {
  return STATUS_V2[state];
}

/** True when the job has a result to show (success, or success with some failed pages). */
export function hasResult(job: FakeJob): boolean {
  return job.state === 'succeeded' || job.state === 'partial';
}

/** `{"id","status","error_code","error_message"}` of the v1 API. */
export function jobV1Body(job: FakeJob): Record<string, unknown> {
  return {
    id: job.id,
    status: statusV1(job.state),
    error_code: job.errorCode,
    error_message: job.errorMessage,
  };
}

/** The v2 job object: the create reply, and `job` of `GET /api/v2/parse/{id}`. */
export function jobV2Body(job: FakeJob): Record<string, unknown> {
  return {
    id: job.id,
    project_id: job.projectId,
    status: statusV2(job.state),
    created_at: job.createdAt,
    error_message: job.errorMessage,
    name: job.name,
    tier: job.tier,
    updated_at: job.updatedAt,
  };
}

function pagesOf(result: FakeParseResult | undefined): readonly FakePage[] {
  return result?.pages && result.pages.length > 0 ? result.pages : [DEFAULT_PAGE];
}

function markdownFull(result: FakeParseResult | undefined): string {
  if (result?.markdown !== undefined) return result.markdown;
  return pagesOf(result)
    .filter((page) => page.error === undefined)
    .map((page) => page.markdown ?? '')
    .join(PAGE_SEPARATOR);
}

function textFull(result: FakeParseResult | undefined): string {
  if (result?.text !== undefined) return result.text;
  return pagesOf(result)
    .filter((page) => page.error === undefined)
    .map((page) => page.text ?? '')
    .join('\n\n');
}

function jobMetadata(result: FakeParseResult | undefined): Record<string, unknown> {
  return {
    job_pages: pagesOf(result).length,
    job_auto_mode_triggered_pages: result?.autoModeTriggeredPages ?? 0,
    job_is_cache_hit: result?.cacheHit ?? false,
  };
}

/** The v2 result parts LlamaCloud documents for `expand`. Unknown names are ignored. */
export const EXPAND_PARTS = [
  'text',
  'markdown',
  'items',
  'metadata',
  'job_metadata',
  'markdown_full',
  'text_full',
] as const;

/** One `expand` part of a finished v2 job. */
export function expandPart(job: FakeJob, part: (typeof EXPAND_PARTS)[number]): unknown {
  const pages = pagesOf(job.result);
  switch (part) {
    case 'markdown':
      return {
        pages: pages.map((page, index) =>
          page.error === undefined
            ? { markdown: page.markdown ?? '', page_number: index + 1, success: true }
            : { error: page.error, page_number: index + 1, success: false },
        ),
      };
    case 'text':
      return {
        pages: pages.map((page, index) => ({ page_number: index + 1, text: page.text ?? '' })),
      };
    case 'items':
      // The real items tree (headings, tables, ...) is richer; one text item per page stands in.
      return {
        pages: pages.map((page, index) => ({
          page_number: index + 1,
          success: page.error === undefined,
          items: [{ type: 'text', value: page.text ?? '', md: page.markdown ?? '' }],
        })),
      };
    case 'metadata':
      return { pages: pages.map((_page, index) => ({ page_number: index + 1 })) };
    case 'job_metadata':
      return jobMetadata(job.result);
    case 'markdown_full':
      return markdownFull(job.result);
    case 'text_full':
      return textFull(job.result);
  }
}

/** The v1 `/result/<kind>` body of a finished job. */
export function resultV1Body(job: FakeJob, kind: 'markdown' | 'text' | 'json'): unknown {
  const job_metadata = jobMetadata(job.result);
  if (kind === 'markdown') return { markdown: markdownFull(job.result), job_metadata };
  if (kind === 'text') return { text: textFull(job.result), job_metadata };
  return { pages: jsonPages(job.result), job_metadata };
}

function jsonPages(result: FakeParseResult | undefined): Array<Record<string, unknown>> {
  return pagesOf(result).map((page, index) => ({
    page: index + 1,
    text: page.text ?? '',
    md: page.markdown ?? '',
    images: page.images ?? [],
    ...(page.error === undefined ? {} : { status: 'ERROR', error: page.error }),
  }));
}

/**
 * The legacy v1 callback body: the whole result, no job id (`txt`, `md`, `json` pages, `images`
 * names).
 */
export function legacyCallbackBody(job: FakeJob): Record<string, unknown> {
  const pages = jsonPages(job.result).map(({ page, text, md, images }) => ({
    page,
    text,
    md,
    images,
  }));
  const images = pagesOf(job.result).flatMap((page) => (page.images ?? []).map((i) => i.name));
  return { txt: textFull(job.result), md: markdownFull(job.result), json: pages, images };
}
