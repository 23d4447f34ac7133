import type { LlamaCloud } from '@llamaindex/llama-cloud';

/**
 * The parse tiers and versions of LlamaCloud's v2 API. Every v2 job names both. Like the
 * official SDK's types (`'fast' | ... | (string & {})`), names it does not know yet pass when
 * they have the right shape: a tier or a dated version added after this release.
 */

/** The named members of an open string union (`'a' | 'b' | (string & {})` gives `'a' | 'b'`). */
type Named<T> = T extends string ? (string extends T ? never : T) : never;

/** A tier the SDK knows. */
export type KnownParseTier = Named<LlamaCloud.ParsingCreateParams['tier']>;

// Keyed by the SDK's union: a tier added or dropped there fails the type check here.
const TIERS: Record<KnownParseTier, true> = {
  fast: true,
  cost_effective: true,
  agentic: true,
  agentic_plus: true,
};

/** The tiers the SDK knows, cheapest first. */
export const PARSE_TIERS = Object.keys(TIERS) as readonly KnownParseTier[];

/** The version that follows each tier's newest release. */
export const LATEST_PARSE_VERSION = 'latest' satisfies LlamaCloud.ParsingCreateParams['version'];

const MAX_LENGTH = 50;
// Tier names are snake_case words.
const TIER_SHAPE = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;
// `latest`, a date (`2026-08-19`), or whatever short token a later release brings.
const VERSION_SHAPE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** True when `tier` is one the SDK knows (not merely well-formed). */
export function isKnownParseTier(tier: string): tier is KnownParseTier {
  return (PARSE_TIERS as readonly string[]).includes(tier);
}

/** Why `tier` cannot be a parse tier, or undefined when it can. */
export function checkParseTier(tier: string): string | undefined {
  if (isKnownParseTier(tier) || (tier.length <= MAX_LENGTH && TIER_SHAPE.test(tier))) {
    return undefined;
  }
  return `expected a parse tier: ${PARSE_TIERS.join(', ')}, or a newer tier's name (lowercase letters, digits and underscores)`;
}

/** Why `version` cannot be a parse version, or undefined when it can. */
export function checkParseVersion(version: string): string | undefined {
  if (version.length <= MAX_LENGTH && VERSION_SHAPE.test(version)) return undefined;
  return `expected a parse version: ${LATEST_PARSE_VERSION}, or a dated version such as 2026-08-19`;
}

/**
 * The events that end a parse job, by today's names: what a job subscribes to when it wants its
 * outcome and not its progress (`parse.pending`, `parse.running`). Each is one the SDK lets a
 * saved webhook configuration name.
 */
export const PARSE_END_EVENTS = [
  'parse.success',
  'parse.partial_success',
  'parse.error',
  'parse.cancelled',
] as const satisfies ReadonlyArray<
  NonNullable<LlamaCloud.WebhookConfigCreateParams['webhook_events']>[number]
>;
