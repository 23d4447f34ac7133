import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { StoreKeys } from './keys.js';

/** Where a parse submission stands. */
export const SUBMISSION_STATES = ['queued', 'waiting_for_url', 'submitted', 'failed'] as const;
export type SubmissionState = (typeof SUBMISSION_STATES)[number];

/** A document to send to the parser, on behalf of a pipeline. */
export interface Submission {
  id: string;
  state: SubmissionState;
  deliverTo: string;
  /** A URL the parser fetches the document from (instead of an uploaded file). */
  sourceUrl: string | undefined;
  file: { name: string; size: number; contentType: string } | undefined;
  /** LlamaCloud API generation: `v2` (webhook_configurations, signed) or `v1` (webhook_url). */
  api: 'v1' | 'v2';
  /**
   * The v2 parse tier: the one the pipeline asked for (undefined: the worker's default), then,
   * once submitted, the one the job was submitted with. Always undefined for v1.
   */
  tier: string | undefined;
  /** The v2 parse version, as `tier`: asked for, then submitted with. */
  version: string | undefined;
  metadata: Record<string, unknown> | undefined;
  expectCallbackWithinSeconds: number | undefined;
  apiClient: string;
  registrationId: string | undefined;
  parseJobId: string | undefined;
  attempts: number;
  lastError: string | undefined;
  createdAt: string;
  updatedAt: string;
}

/** What a new submission holds. */
export type NewSubmission = Pick<
  Submission,
  | 'deliverTo'
  | 'sourceUrl'
  | 'api'
  | 'tier'
  | 'version'
  | 'metadata'
  | 'expectCallbackWithinSeconds'
  | 'apiClient'
> & { file?: { name: string; contentType: string; content: Buffer } | undefined };

/** Parse submissions in Redis (a hash each, the uploaded file beside it until submitted). */
export interface SubmissionStore {
  create(input: NewSubmission): Promise<Submission>;
  get(id: string): Promise<Submission | undefined>;
  file(id: string): Promise<Buffer | undefined>;
  /** The callback URL issued for this submission, kept until it is submitted. */
  callbackUrl(id: string): Promise<string | undefined>;
  update(
    id: string,
    changes: Partial<
      Pick<Submission, 'state' | 'registrationId' | 'parseJobId' | 'lastError' | 'tier' | 'version'>
    > & {
      callbackUrl?: string | null;
      attempt?: boolean;
    },
  ): Promise<void>;
}

const DEFAULT_TTL_SECONDS = 14 * 86_400;

function fromHash(raw: Record<string, string>): Submission | undefined {
  if (!raw['id'] || !raw['deliver_to']) return undefined;
  const json = <T>(value: string | undefined): T | undefined => {
    try {
      return value === undefined ? undefined : (JSON.parse(value) as T);
    } catch {
      return undefined;
    }
  };
  return {
    id: raw['id'],
    state: (raw['state'] as SubmissionState | undefined) ?? 'queued',
    deliverTo: raw['deliver_to'],
    sourceUrl: raw['source_url'],
    file: json(raw['file']),
    api: raw['api'] === 'v1' ? 'v1' : 'v2',
    tier: raw['tier'],
    version: raw['version'],
    metadata: json(raw['metadata']),
    expectCallbackWithinSeconds:
      raw['expect_callback_within_s'] === undefined
        ? undefined
        : Number(raw['expect_callback_within_s']),
    apiClient: raw['api_client'] ?? 'unknown',
    registrationId: raw['registration_id'],
    parseJobId: raw['parse_job_id'],
    attempts: Number(raw['attempts'] ?? '0'),
    lastError: raw['last_error'],
    createdAt: raw['created_at'] ?? '',
    updatedAt: raw['updated_at'] ?? '',
  };
}

/** Creates the submission store on a borrowed connection. */
export function createSubmissionStore(options: {
  redis: Redis | Cluster;
  keys: StoreKeys;
  /** How long a submission and its file are kept (`STORE_SUBMISSION_RETENTION_S`).
   * @defaultValue 1_209_600 (14 days) */
  ttlSeconds?: number;
  now?: () => Date;
}): SubmissionStore {
  const { redis, keys } = options;
  const ttlSeconds = options.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  const now = options.now ?? (() => new Date());
  const key = (id: string) => `{${keys.prefix}}:sub:${id}`;
  const fileKey = (id: string) => `{${keys.prefix}}:sub:${id}:file`;
  const valid = (id: string) => /^sub_[0-9a-f]{32}$/.test(id);

  return {
    async create(input) {
      const id = `sub_${randomUUID().replaceAll('-', '')}`;
      const at = now().toISOString();
      const hash: Record<string, string> = {
        id,
        state: 'queued',
        deliver_to: input.deliverTo,
        api: input.api,
        api_client: input.apiClient,
        attempts: '0',
        created_at: at,
        updated_at: at,
      };
      if (input.sourceUrl !== undefined) hash['source_url'] = input.sourceUrl;
      if (input.tier !== undefined) hash['tier'] = input.tier;
      if (input.version !== undefined) hash['version'] = input.version;
      if (input.metadata !== undefined) hash['metadata'] = JSON.stringify(input.metadata);
      if (input.expectCallbackWithinSeconds !== undefined) {
        hash['expect_callback_within_s'] = String(input.expectCallbackWithinSeconds);
      }
      const multi = redis.multi();
      if (input.file) {
        hash['file'] = JSON.stringify({
          name: input.file.name,
          size: input.file.content.length,
          contentType: input.file.contentType,
        });
        multi.set(fileKey(id), input.file.content, 'EX', ttlSeconds);
      }
      multi.hset(key(id), hash).expire(key(id), ttlSeconds);
      const results = await multi.exec();
      const failed = results?.find(([error]) => error);
      if (!results || failed) throw failed?.[0] ?? new Error('submission was not stored');
      const stored = fromHash(hash);
      if (!stored) throw new Error('submission record does not match its schema');
      return stored;
    },
    async get(id) {
      if (!valid(id)) return undefined;
      return fromHash(await redis.hgetall(key(id)));
    },
    async file(id) {
      if (!valid(id)) return undefined;
      return (await redis.getBuffer(fileKey(id))) ?? undefined;
    },
    async callbackUrl(id) {
      if (!valid(id)) return undefined;
      return (await redis.hget(key(id), 'callback_url')) ?? undefined;
    },
    async update(id, changes) {
      const fields: Record<string, string> = { updated_at: now().toISOString() };
      if (changes.state !== undefined) fields['state'] = changes.state;
      if (changes.registrationId !== undefined) fields['registration_id'] = changes.registrationId;
      if (changes.parseJobId !== undefined) fields['parse_job_id'] = changes.parseJobId;
      if (changes.tier !== undefined) fields['tier'] = changes.tier;
      if (changes.version !== undefined) fields['version'] = changes.version;
      if (changes.lastError !== undefined) fields['last_error'] = changes.lastError.slice(0, 2_000);
      if (typeof changes.callbackUrl === 'string') fields['callback_url'] = changes.callbackUrl;
      const multi = redis.multi().hset(key(id), fields);
      if (changes.attempt) multi.hincrby(key(id), 'attempts', 1);
      // Once submitted, neither the document nor the callback URL's token is kept here.
      if (changes.callbackUrl === null) multi.hdel(key(id), 'callback_url');
      if (changes.state === 'submitted') multi.del(fileKey(id));
      await multi.exec();
    },
  };
}
