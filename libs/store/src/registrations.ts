import { hash as cryptoHash, randomBytes, randomInt, randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { z } from 'zod';
import { inPartition, partitionOf, type StoreKeys } from './keys.js';

/** Where a registration stands (libs/client keeps a copy, held equal by a workspace test). */
export const REGISTRATION_STATES = [
  'waiting',
  'received',
  'delivering',
  'delivered',
  'dead_lettered',
  'overdue',
] as const;
export type RegistrationState = (typeof REGISTRATION_STATES)[number];

/** LlamaCloud's parse APIs: a job is polled through the one it was submitted to. */
export const PARSE_APIS = ['v1', 'v2'] as const;
export type ParseApi = (typeof PARSE_APIS)[number];

/** The callback token's length in characters (32 random bytes, base64url), without the
 * partition marker (`.p<p>`, up to 5 more) a token of partition 1 or more ends with. */
export const CALLBACK_TOKEN_LENGTH = 43;

const REGISTRATION_ID = /^reg_[0-9a-f]{32}(\.p\d{1,3})?$/;
const TOKEN = /^[A-Za-z0-9_-]{43}(\.p\d{1,3})?$/;

/** Whether a string is shaped like a callback token (its partition marker included). */
export function isCallbackToken(token: string): boolean {
  return TOKEN.test(token);
}

/** A pipeline's registration of one job it sends to a parser. */
export interface Registration {
  id: string;
  source: string;
  deliverTo: string;
  parseJobId: string | undefined;
  /**
   * The LlamaCloud API the parse job belongs to: reconciliation asks that one. Undefined when
   * nobody said (the current API, v2, is asked).
   */
  parseApi: ParseApi | undefined;
  metadata: Record<string, unknown> | undefined;
  /** HMAC key for the parser's `LC-Signature` (inbound). */
  signingSecret: string;
  /** Standard Webhooks secret (`whsec_...`) the worker signs deliveries with (outbound). */
  deliverySecret: string;
  requireSignature: boolean;
  callbackBaseUrl: string;
  callbackUrlSource: string;
  apiClient: string;
  state: RegistrationState;
  callbacksReceived: number;
  createdAt: string;
  expiresAt: string;
  expectCallbackBy: string;
  lastCallbackAt: string | undefined;
  /** Why deliveries to this registration stopped (the pipeline answered 410), if they did. */
  deliveryStopped: string | undefined;
}

const hashSchema = z.object({
  id: z.string(),
  source: z.string(),
  deliver_to: z.string(),
  parse_job_id: z.string().optional(),
  parse_api: z.enum(PARSE_APIS).optional(),
  metadata: z.string().optional(),
  signing_secret: z.string(),
  delivery_secret: z.string(),
  require_signature: z.enum(['0', '1']),
  callback_base_url: z.string(),
  callback_url_source: z.string(),
  api_client: z.string(),
  state: z.enum(REGISTRATION_STATES),
  callbacks_received: z.string().optional(),
  created_at: z.string(),
  expires_at: z.string(),
  expect_callback_by: z.string(),
  last_callback_at: z.string().optional(),
  delivery_stopped: z.string().optional(),
});

/** SHA-256 (hex) of a callback token: what the store keeps. */
export function hashToken(token: string): string {
  return cryptoHash('sha256', token, 'hex');
}

/** A new unguessable callback token: 256 random bits, base64url. */
export function newCallbackToken(partition = 0): string {
  return inPartition(randomBytes(32).toString('base64url'), partition);
}

/** A new registration id (`reg_` + 32 hex, and `.p<p>` past partition 0). */
export function newRegistrationId(partition = 0): string {
  return inPartition(`reg_${randomUUID().replaceAll('-', '')}`, partition);
}

/** What {@link RegistrationStore.create} needs. */
export type NewRegistration = Omit<
  Registration,
  'id' | 'state' | 'callbacksReceived' | 'lastCallbackAt' | 'deliveryStopped' | 'parseApi'
> & { id?: string; parseApi?: ParseApi | undefined };

function toHash(registration: NewRegistration & { id: string }): Record<string, string> {
  const hash: Record<string, string> = {
    id: registration.id,
    source: registration.source,
    deliver_to: registration.deliverTo,
    signing_secret: registration.signingSecret,
    delivery_secret: registration.deliverySecret,
    require_signature: registration.requireSignature ? '1' : '0',
    callback_base_url: registration.callbackBaseUrl,
    callback_url_source: registration.callbackUrlSource,
    api_client: registration.apiClient,
    state: 'waiting',
    callbacks_received: '0',
    created_at: registration.createdAt,
    expires_at: registration.expiresAt,
    expect_callback_by: registration.expectCallbackBy,
  };
  if (registration.parseJobId !== undefined) hash['parse_job_id'] = registration.parseJobId;
  if (registration.parseApi !== undefined) hash['parse_api'] = registration.parseApi;
  if (registration.metadata !== undefined) hash['metadata'] = JSON.stringify(registration.metadata);
  return hash;
}

function fromHash(raw: Record<string, string>): Registration | undefined {
  const parsed = hashSchema.safeParse(raw);
  if (!parsed.success) return undefined;
  const h = parsed.data;
  let metadata: Record<string, unknown> | undefined;
  try {
    metadata =
      h.metadata === undefined ? undefined : (JSON.parse(h.metadata) as Record<string, unknown>);
  } catch {
    metadata = undefined;
  }
  return {
    id: h.id,
    source: h.source,
    deliverTo: h.deliver_to,
    parseJobId: h.parse_job_id,
    parseApi: h.parse_api,
    metadata,
    signingSecret: h.signing_secret,
    deliverySecret: h.delivery_secret,
    requireSignature: h.require_signature === '1',
    callbackBaseUrl: h.callback_base_url,
    callbackUrlSource: h.callback_url_source,
    apiClient: h.api_client,
    state: h.state,
    callbacksReceived: Number(h.callbacks_received ?? '0'),
    createdAt: h.created_at,
    expiresAt: h.expires_at,
    expectCallbackBy: h.expect_callback_by,
    lastCallbackAt: h.last_callback_at,
    deliveryStopped: h.delivery_stopped,
  };
}

/** Registrations and their callback tokens in Redis. */
export interface RegistrationStore {
  /** A new callback token, of a partition chosen at random (the registration created with it
   * belongs to that partition). */
  newToken(): string;
  /** Stores a registration and its token (both expire at `expiresAt`, plus a grace period for
   * status queries), in the token's partition. */
  create(registration: NewRegistration, token: string): Promise<Registration>;
  get(id: string): Promise<Registration | undefined>;
  /** The registration a parser job id was given to (at registration or attached later). */
  findByParseJob(parseJobId: string): Promise<Registration | undefined>;
  /** The registration a callback token belongs to, if the token is known and not expired. */
  findByToken(token: string): Promise<Registration | undefined>;
  /**
   * Sets the parser's job id, and the API it belongs to when known. Returns the updated
   * registration, or undefined if unknown.
   */
  attachParseJob(
    id: string,
    parseJobId: string,
    parseApi?: ParseApi,
  ): Promise<Registration | undefined>;
  /** Stops deliveries to this registration (its pipeline answered 410 Gone). */
  stopDeliveries(id: string, reason: string): Promise<void>;
  /** Lets deliveries flow again (an operator replayed one). */
  resumeDeliveries(id: string): Promise<void>;
}

/** Options for {@link createRegistrationStore}. */
export interface RegistrationStoreOptions {
  redis: Redis | Cluster;
  keys: StoreKeys;
  /**
   * How long a registration stays readable after its callback URL expired.
   * @defaultValue 604_800 (7 days)
   */
  retainAfterExpirySeconds?: number;
  /** @defaultValue `() => Date.now()` */
  now?: () => number;
}

/** KEYS: the token key, the registration key prefix. Returns the registration's hash fields. */
const FIND_BY_TOKEN_SCRIPT = `
local id = redis.call('GET', KEYS[1])
if not id then return {} end
return redis.call('HGETALL', KEYS[2] .. id)
`;

type TokenRedis = (Redis | Cluster) & {
  cbgwFindByToken(tokenKey: string, registrationPrefix: string): Promise<string[] | null>;
};

/** Creates the registration store on a borrowed connection. */
export function createRegistrationStore(options: RegistrationStoreOptions): RegistrationStore {
  const { redis, keys } = options;
  if (typeof (redis as TokenRedis).cbgwFindByToken !== 'function') {
    redis.defineCommand('cbgwFindByToken', { numberOfKeys: 2, lua: FIND_BY_TOKEN_SCRIPT });
  }
  const retain = options.retainAfterExpirySeconds ?? 604_800;
  const now = options.now ?? (() => Date.now());

  const get = async (id: string) => {
    if (!REGISTRATION_ID.test(id)) return undefined;
    const raw = await redis.hgetall(keys.registration(id));
    return Object.keys(raw).length === 0 ? undefined : fromHash(raw);
  };

  return {
    newToken: () => newCallbackToken(randomInt(keys.partitions)),
    async create(input, token) {
      const partition = partitionOf(token);
      const id = input.id ?? newRegistrationId(partition);
      if (partitionOf(id) !== partition) {
        throw new Error(`registration ${id} is not in its token's partition (${partition})`);
      }
      const own = keys.of(id);
      const hash = toHash({ ...input, id });
      const expiresMs = Date.parse(input.expiresAt);
      const tokenTtl = Math.max(1, Math.ceil((expiresMs - now()) / 1000));
      const results = await redis
        .multi()
        .hset(keys.registration(id), hash)
        .expire(keys.registration(id), tokenTtl + retain)
        .set(own.token(hashToken(token)), id, 'EX', tokenTtl)
        .zadd(own.waiting, Date.parse(input.expectCallbackBy), id)
        .exec();
      if (input.parseJobId !== undefined) {
        await redis.set(keys.parseJob(input.parseJobId), id, 'EX', tokenTtl + retain);
      }
      const failed = results?.find(([error]) => error);
      if (!results || failed) throw failed?.[0] ?? new Error('registration was not stored');
      const stored = fromHash(hash);
      if (!stored) throw new Error('registration record does not match its schema');
      return stored;
    },
    get,
    async findByToken(token) {
      if (!isCallbackToken(token)) return undefined;
      // One round trip on the callback path: token to id to record, in one script (the
      // token's partition holds both).
      const own = keys.of(token);
      const flat = await (redis as TokenRedis).cbgwFindByToken(
        own.token(hashToken(token)),
        `${own.tag}:reg:`,
      );
      if (!flat || flat.length === 0) return undefined;
      const raw: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) raw[flat[i] as string] = flat[i + 1] as string;
      return fromHash(raw);
    },
    async stopDeliveries(id, reason) {
      await redis.hset(keys.registration(id), 'delivery_stopped', reason.slice(0, 500));
    },
    async resumeDeliveries(id) {
      await redis.hdel(keys.registration(id), 'delivery_stopped');
    },
    async attachParseJob(id, parseJobId, parseApi) {
      const ttlMs = await redis.pttl(keys.registration(id));
      if (ttlMs === -2) return undefined;
      await redis.hset(keys.registration(id), {
        parse_job_id: parseJobId,
        ...(parseApi !== undefined && { parse_api: parseApi }),
      });
      // Kept as long as the registration (a key without expiry: as long as it is there).
      if (ttlMs > 0) await redis.set(keys.parseJob(parseJobId), id, 'PX', ttlMs);
      else await redis.set(keys.parseJob(parseJobId), id);
      return get(id);
    },
    async findByParseJob(parseJobId) {
      const id = await redis.get(keys.parseJob(parseJobId.slice(0, 200)));
      return id === null ? undefined : get(id);
    },
  };
}
