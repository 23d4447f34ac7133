import type { LlamaCloud } from '@llamaindex/llama-cloud';

/**
 * The parse versions each tier accepts, as `GET /api/v2/parse/versions` lists them, and what
 * `latest` means per tier. The lists are keyed by the SDK's types
 * (`ParsingListVersionsResponse`): an SDK upgrade that adds or drops a version fails the type
 * check here until the fake follows. The `latest` versions are those the SDK documents on
 * `ParsingCreateParams.version`.
 */
export type FakeVersions = LlamaCloud.ParsingListVersionsResponse;

type Response = LlamaCloud.ParsingListVersionsResponse;
type Tier = Exclude<keyof Response, 'latest'>;
type Versions<T extends Tier> = Record<Response[T][number], true>;

const FAST: Versions<'fast'> = {
  '2026-06-15': true,
  '2025-12-11': true,
};
const COST_EFFECTIVE: Versions<'cost_effective'> = {
  '2026-08-19': true,
  '2026-08-11': true,
  '2026-08-08': true,
  '2026-07-23': true,
  '2026-06-26': true,
  '2026-06-18': true,
  '2026-06-17': true,
  '2026-06-11': true,
  '2026-06-08': true,
  '2026-06-05': true,
  '2026-05-28': true,
  '2026-04-09': true,
  '2026-03-31': true,
  '2026-03-27': true,
  '2026-03-25': true,
};
const AGENTIC: Versions<'agentic'> = {
  '2026-09-07': true,
  '2026-08-19': true,
  '2026-07-24': true,
  '2026-07-23': true,
  '2026-07-15': true,
  '2026-06-18': true,
  '2026-06-11': true,
  '2026-06-04': true,
  '2026-06-01': true,
  '2026-05-26': true,
  '2026-05-21': true,
  '2026-05-20': true,
  '2026-05-19': true,
  '2026-05-13': true,
  '2026-05-11': true,
  '2026-05-06': true,
  '2026-05-04': true,
  '2026-04-27': true,
  '2026-04-22': true,
  '2026-04-09': true,
  '2026-04-06': true,
  '2026-04-02': true,
  '2026-03-31': true,
  '2026-03-30': true,
  '2026-03-27': true,
  '2026-03-25': true,
  '2026-03-23': true,
  '2026-03-22': true,
  '2026-03-20': true,
  '2026-03-11': true,
  '2026-03-10': true,
  '2026-03-09': true,
  '2026-03-03': true,
  '2026-03-02': true,
  '2026-02-26': true,
  '2026-02-24': true,
  '2026-01-30': true,
  '2026-01-22': true,
  '2026-01-21': true,
  '2026-01-16': true,
  '2026-01-08': true,
  '2025-12-31': true,
  '2025-12-18': true,
  '2025-12-11': true,
};
const AGENTIC_PLUS: Versions<'agentic_plus'> = {
  '2026-08-19': true,
  '2026-07-08': true,
  '2026-06-18': true,
  '2026-06-11': true,
  '2026-06-04': true,
  '2026-06-01': true,
  '2026-05-26': true,
  '2026-05-21': true,
  '2026-05-20': true,
  '2026-05-19': true,
  '2026-05-11': true,
  '2026-05-06': true,
  '2026-05-04': true,
  '2026-05-01': true,
  '2026-04-27': true,
  '2026-04-19': true,
  '2026-04-14': true,
  '2026-04-09': true,
  '2026-04-02': true,
  '2026-03-31': true,
  '2026-03-26': true,
  '2026-03-25': true,
  '2026-03-22': true,
  '2026-03-20': true,
  '2026-03-17': true,
  '2026-03-12': true,
  '2026-03-10': true,
  '2026-03-09': true,
  '2026-03-02': true,
  '2026-02-26': true,
  '2026-02-24': true,
  '2026-01-30': true,
  '2026-01-29': true,
  '2026-01-24': true,
  '2026-01-22': true,
  '2026-01-21': true,
  '2026-01-16': true,
  '2025-12-31': true,
  '2025-12-18': true,
  '2025-12-11': true,
};

const dates = (versions: Record<string, true>) => Object.keys(versions);

/** The versions the fake accepts unless told otherwise: the SDK's. */
export const DEFAULT_VERSIONS: FakeVersions = {
  fast: dates(FAST) as Response['fast'],
  cost_effective: dates(COST_EFFECTIVE) as Response['cost_effective'],
  agentic: dates(AGENTIC) as Response['agentic'],
  agentic_plus: dates(AGENTIC_PLUS) as Response['agentic_plus'],
  latest: {
    fast: '2026-06-15',
    cost_effective: '2026-08-19',
    agentic: '2026-09-07',
    agentic_plus: '2026-08-19',
  },
};
