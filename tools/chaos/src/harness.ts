import {
  createRedisAuditStore,
  type AuditEvent,
  type AuditEventType,
} from '@callback-gateway/audit';
import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { Redis } from 'ioredis';
import { Ledger, type Accounting } from './ledger.js';
import { startPipeline, type ChaosPipeline } from './pipeline.js';
import { SecretSet, recordSecretScan, scanForSecrets, type SecretScan } from './secrets.js';
import {
  API_TOKEN,
  gatewayApi,
  register,
  sleep,
  startStack,
  type Registration,
  type Stack,
} from './stack.js';

/** Which size of a scenario to run: `short` in CI, `full` for `npm run chaos`. */
export type ScenarioSize = 'short' | 'full';

/** What one scenario run proved, for the table and the assertions. */
export interface ScenarioResult {
  name: string;
  /** The load in words (senders, rate, duration). */
  load: string;
  /** The faults injected, in words. */
  fault: string;
  accounting: Accounting;
  /** Scenario-specific figures: 503s while away, time to ready, breaker opened, ... */
  observations: Record<string, number | boolean | string>;
  /** Acknowledged callbacks still unresolved at the end, by the state the gateway reports. */
  unresolvedStates: Record<string, number>;
  durationMs: number;
}

/** Redis, the built processes, pipelines and their registrations, and the ledger. */
export interface World {
  redis: TestRedis;
  stack: Stack;
  ledger: Ledger;
  pipelines: ChaosPipeline[];
  /** Registrations per pipeline, in pipeline order. */
  registrations: Registration[][];
  /** Registers `perPipeline` registrations on every pipeline (replacing the previous ones). */
  registerAll(perPipeline: number): Promise<void>;
  /** Every secret the world configured or was handed (API token, registrations' secrets and
   * callback tokens). */
  secrets: SecretSet;
  /** Scans every process output line and audit record of the run for those secrets. */
  scanSecrets(): Promise<SecretScan>;
  close(): Promise<void>;
}

export interface WorldOptions {
  /** Settings over the chaos defaults. */
  env?: Record<string, string>;
  /** @defaultValue 1 */
  pipelines?: number;
  /** @defaultValue 4 */
  registrationsPerPipeline?: number;
  /** Answer delay of every pipeline. */
  latencyMs?: number;
  /** Start the processes while Redis is stopped, and register nothing yet. */
  redisAway?: boolean;
}

let pathSeq = 0;

/** Opens a fresh world: its own persistent Redis (AOF, fsync always), processes and pipelines. */
export async function openWorld(options: WorldOptions = {}): Promise<World> {
  const ledger = new Ledger();
  const secrets = new Map<string, string>();
  const redis = await startRedis({ persistent: true });
  const pipelines: ChaosPipeline[] = [];
  let stack: Stack | undefined;
  try {
    for (let i = 0; i < (options.pipelines ?? 1); i++) {
      pipelines.push(
        await startPipeline(ledger, (path) => secrets.get(path), {
          latencyMs: options.latencyMs,
        }),
      );
    }
    if (options.redisAway) await redis.stop();
    stack = await startStack(redis, options.env, { waitReady: !options.redisAway });
    const world: World = {
      redis,
      stack,
      ledger,
      pipelines,
      registrations: [],
      secrets: new SecretSet(),
      scanSecrets: () => scanForSecrets(world.secrets, world.stack.output(), redis.url),
      async registerAll(perPipeline) {
        world.registrations = [];
        for (const pipeline of pipelines) {
          const list: Registration[] = [];
          for (let j = 0; j < perPipeline; j++) {
            const registration = await register(world.stack, pipeline.url(`/in/${pathSeq++}`));
            secrets.set(registration.path, registration.deliverySecret);
            world.secrets.addRegistration({ ...registration, callback: registration.callbackPath });
            list.push(registration);
          }
          world.registrations.push(list);
        }
      },
      async close() {
        await stack?.stop();
        await Promise.all(pipelines.map((pipeline) => pipeline.close()));
        await redis.close();
      },
    };
    world.secrets.add('API token', API_TOKEN);
    if (!options.redisAway) await world.registerAll(options.registrationsPerPipeline ?? 4);
    return world;
  } catch (error) {
    await stack?.stop();
    await Promise.all(pipelines.map((pipeline) => pipeline.close()));
    await redis.close();
    throw error;
  }
}

/** Dead-lettered delivery ids the gateway lists (up to 1000, newest first). */
export async function deadLetters(stack: Pick<Stack, 'gatewayUrl'>): Promise<Set<string>> {
  const listed = await listDeadLetters(stack);
  if (listed.status !== 200) throw new Error(`listing dead letters answered ${listed.status}`);
  return listed.ids;
}

async function listDeadLetters(
  stack: Pick<Stack, 'gatewayUrl'>,
): Promise<{ status: number; ids: Set<string> }> {
  const { status, body } = await gatewayApi<{ deliveries?: { id: string }[] }>(
    stack,
    'GET',
    '/v1/deliveries?state=dead_lettered&limit=1000',
  );
  return { status, ids: new Set((body.deliveries ?? []).map((delivery) => delivery.id)) };
}

/**
 * Waits until every acknowledged callback was received or dead-lettered (or `timeoutMs`), then
 * asks the gateway about each one still unresolved: a 404 means it forgot a callback it
 * acknowledged.
 */
export async function drain(
  world: Pick<World, 'stack' | 'ledger'>,
  timeoutMs: number,
  options: { deadLettersCount?: boolean } = {},
): Promise<{
  accounting: Accounting;
  unresolvedStates: Record<string, number>;
  /** How long until every acknowledged callback was resolved (or the timeout). */
  drainMs: number;
}> {
  const drainStarted = Date.now();
  const countDead = options.deadLettersCount ?? true;
  const deadline = Date.now() + timeoutMs;
  let dead = new Set<string>();
  for (;;) {
    // A 503 is the gateway's Redis connection not back yet after a fault: ask again, until the
    // deadline (past it, the 503 is the finding).
    const listed = countDead ? await listDeadLetters(world.stack) : { status: 200, ids: dead };
    if (listed.status === 200) {
      dead = listed.ids;
      if (world.ledger.unresolved(dead).length === 0 || Date.now() > deadline) break;
    } else if (listed.status !== 503 || Date.now() > deadline) {
      throw new Error(`listing dead letters answered ${listed.status}`);
    }
    await sleep(250);
  }
  const drainMs = Date.now() - drainStarted;
  const unknown = new Set<string>();
  const unresolvedStates: Record<string, number> = {};
  for (const id of world.ledger.unresolved(dead)) {
    const { status, body } = await gatewayApi<{ state?: string }>(
      world.stack,
      'GET',
      `/v1/deliveries/${encodeURIComponent(id)}`,
    );
    const state = status === 404 ? 'unknown to the gateway' : (body.state ?? `HTTP ${status}`);
    if (status === 404) unknown.add(id);
    unresolvedStates[state] = (unresolvedStates[state] ?? 0) + 1;
  }
  return { accounting: world.ledger.account(dead, unknown), unresolvedStates, drainMs };
}

/** Reads one counter (summed over its labels matching `labels`) from a Prometheus endpoint. */
export async function metric(url: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(url)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (labels && !line.includes(labels))) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) total += value;
  }
  return total;
}

/** Every audit event of these types in the Redis stream at `redisUrl`, oldest first. */
export async function auditEvents(
  redisUrl: string,
  types: readonly AuditEventType[],
): Promise<AuditEvent[]> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    const store = createRedisAuditStore({ redis });
    const seen = new Map<string, AuditEvent>();
    let from: Date | undefined;
    // A query answers at most 1000 events: page on by time, the page's last instant included.
    for (;;) {
      const page = await store.query({ types, limit: 1_000, ...(from && { from }) });
      let fresh = 0;
      for (const event of page) {
        if (seen.has(event.id)) continue;
        seen.set(event.id, event);
        fresh += 1;
      }
      const last = page.at(-1);
      if (page.length < 1_000 || fresh === 0 || !last) break;
      from = new Date(last.at);
    }
    return [...seen.values()].sort((a, b) => a.at.localeCompare(b.at));
  } finally {
    redis.disconnect();
  }
}

/**
 * Runs a scenario's body in `world`, then scans the run's process output and audit trail for
 * every secret the world knows (the count goes into the observations; it must be 0), and closes
 * the world whatever happened.
 */
export async function inWorld(
  world: World,
  body: (world: World) => Promise<ScenarioResult>,
): Promise<ScenarioResult> {
  try {
    const result = await body(world);
    recordSecretScan(result.observations, await world.scanSecrets());
    return result;
  } finally {
    await world.close();
  }
}
