#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { createAuditLog, createLogger, logAuditSink } from '@callback-gateway/audit';
import {
  SettingsError,
  commonSettingsShape,
  createRedisClient,
  redisTargetOf,
  type RedisClient,
  type RedisTarget,
  parseSettings,
  checkRedisTarget,
} from '@callback-gateway/runtime';
import { z } from 'zod';
import { parseWebhookUrlEnv, resolverOptionsFromEnv } from './env.js';
import { WebhookUrlError, WebhookUrlResolveError } from './errors.js';
import { checkPublicBaseUrl } from './public-url-policy.js';
import { createWebhookUrlResolver } from './resolver.js';
import { raceSignal } from './timing.js';
import { verifyPublicBaseUrl, type LookupFunction } from './verify.js';

/** Where the command writes; injected so tests run it in-process. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** DNS lookup for `--verify dns` (tests). @defaultValue the system resolver */
  lookup?: LookupFunction;
}

const USAGE = [
  'usage: webhook-url check <url> [--verify syntax|dns] [--allow-insecure-http]',
  '       webhook-url resolve',
  '       webhook-url --help',
  'Exit 0 with {"ok":true,...} on success, 2 with {"ok":false,"code","reason"} otherwise.',
].join('\n');

function usage(io: CliIo, reason: string): number {
  io.stdout(JSON.stringify({ ok: false, code: 'WEBHOOK_URL_USAGE', reason }));
  io.stderr(USAGE);
  return 2;
}

/** True for a log line at error level (pino's JSON, its level as a label). */
function isErrorLine(line: string): boolean {
  try {
    return (JSON.parse(line) as { level?: unknown }).level === 'error';
  } catch {
    return false;
  }
}

function failure(io: CliIo, error: unknown): number {
  const typed = error instanceof WebhookUrlError ? error : undefined;
  io.stdout(
    JSON.stringify({
      ok: false,
      code: typed?.code ?? 'WEBHOOK_URL_UNAVAILABLE',
      reason: error instanceof Error ? error.message : String(error),
      ...(error instanceof WebhookUrlResolveError
        ? { reasons: error.reasons.map(({ source, code, reason }) => ({ source, code, reason })) }
        : {}),
    }),
  );
  return 2;
}

/** `REDIS_URL` and `REDIS_CLUSTER_NODES` as the apps read them; a bad one is the CLI's
 * configuration error. */
function redisTargetOfEnv(env: Readonly<Record<string, string | undefined>>): RedisTarget {
  try {
    return redisTargetOf(
      parseSettings(
        z.object({
          REDIS_URL: commonSettingsShape.REDIS_URL,
          REDIS_CLUSTER_NODES: commonSettingsShape.REDIS_CLUSTER_NODES,
        }),
        env,
        { check: checkRedisTarget },
      ),
    );
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    throw new WebhookUrlError(
      'WEBHOOK_URL_CONFIG_INVALID',
      `Invalid settings: ${error.problems.join('; ')}. REDIS_URL (or REDIS_CLUSTER_NODES) is where the URL cache lives.`,
    );
  }
}

async function check(args: string[], env: Readonly<Record<string, string | undefined>>, io: CliIo) {
  let depth: 'syntax' | 'dns' = 'syntax';
  let allowInsecureHttp = false;
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--verify') {
      const value = args[++i];
      if (value !== 'syntax' && value !== 'dns') {
        return usage(
          io,
          `--verify takes syntax or dns (probe needs the running gateway: use resolve), got ${JSON.stringify(value ?? null)}`,
        );
      }
      depth = value;
    } else if (arg === '--allow-insecure-http') allowInsecureHttp = true;
    else if (arg.startsWith('--')) return usage(io, `unknown option ${arg}`);
    else positional.push(arg);
  }
  if (positional.length !== 1) return usage(io, 'check takes exactly one URL');
  const url = positional[0] as string;
  if (!allowInsecureHttp && env['WEBHOOK_URL_ALLOW_INSECURE_HTTP']) {
    try {
      allowInsecureHttp = parseWebhookUrlEnv({
        WEBHOOK_URL_ALLOW_INSECURE_HTTP: env['WEBHOOK_URL_ALLOW_INSECURE_HTTP'],
      }).WEBHOOK_URL_ALLOW_INSECURE_HTTP;
    } catch (error) {
      return failure(io, error);
    }
  }
  if (depth === 'syntax') {
    const checked = checkPublicBaseUrl(url, { allowInsecureHttp });
    if (!checked.ok) return failure(io, checked.error);
    io.stdout(
      JSON.stringify({
        ok: true,
        baseUrl: checked.baseUrl,
        host: checked.host,
        insecure: checked.insecure,
        verifiedBy: 'syntax',
      }),
    );
    return 0;
  }
  try {
    const verified = await verifyPublicBaseUrl(url, {
      depth,
      allowInsecureHttp,
      signal: AbortSignal.timeout(10_000),
      ...(io.lookup ? { lookup: io.lookup } : {}),
    });
    io.stdout(JSON.stringify({ ok: true, ...verified }));
    return 0;
  } catch (error) {
    return failure(io, error);
  }
}

async function resolve(env: Readonly<Record<string, string | undefined>>, io: CliIo) {
  const logger = createLogger({
    name: 'webhook-url-cli',
    level: env['LOG_LEVEL'] ?? 'warn',
    destination: {
      // The resolver's error lines tell of the failure this command prints on stdout with all
      // its reasons: it is printed once, there. Warnings, and what LOG_LEVEL adds, stay here.
      write: (line: string) => {
        if (!isErrorLine(line)) io.stderr(line.trimEnd());
      },
    },
  });
  const audit = createAuditLog({
    actor: { kind: 'operator', id: 'webhook-url-cli' },
    sinks: [logAuditSink(logger)],
    logger,
  });
  let redis: RedisClient | undefined;
  try {
    const parsed = parseWebhookUrlEnv(env);
    if (parsed.WEBHOOK_URL_SOURCES.includes('cache')) {
      // Read and checked as the apps read it (their default, a unix:// URL included), so the CLI
      // sees the same cache they do.
      redis = createRedisClient(redisTargetOfEnv(env), {
        lazyConnect: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        connectTimeout: 1_000,
        retryStrategy: () => null,
      });
      redis.on('error', () => undefined);
      await raceSignal(redis.connect(), AbortSignal.timeout(1_500)).catch(() => undefined);
    }
    const resolver = createWebhookUrlResolver(
      resolverOptionsFromEnv(parsed, { audit, logger, redis }),
    );
    try {
      const resolution = await resolver.resolve({ purpose: 'cli' });
      io.stdout(
        JSON.stringify({
          ok: true,
          ...resolution,
          resolvedAt: resolution.resolvedAt.toISOString(),
        }),
      );
      return 0;
    } finally {
      await resolver.close();
    }
  } catch (error) {
    return failure(io, error);
  } finally {
    redis?.disconnect();
    await audit.close(500);
    logger.flush();
  }
}

/** Runs the command line with `argv` (without `node` and the script) and returns the exit code. */
export async function run(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: CliIo,
): Promise<number> {
  const [command, ...args] = argv;
  if (command === 'help' || argv.includes('--help') || argv.includes('-h')) {
    io.stdout(USAGE);
    return 0;
  }
  if (command === 'check') return check(args, env, io);
  if (command === 'resolve') {
    if (args.length > 0) return usage(io, `resolve takes no arguments, got ${args.join(' ')}`);
    return resolve(env, io);
  }
  return usage(io, command ? `unknown command ${JSON.stringify(command)}` : 'no command given');
}

/** The process entry point: reads `process.argv` and `process.env`, sets the exit code. */
export async function main(): Promise<void> {
  process.exitCode = await run(process.argv.slice(2), process.env, {
    stdout: (text) => console.log(text),
    stderr: (text) => console.error(text),
  });
  // A native ngrok connect that never answered cannot be cancelled and would keep the process
  // alive; everything else is closed by now, so leave shortly even if it is still pending.
  setTimeout(() => process.exit(), 1_000).unref();
}

const entry = process.argv[1];
if (entry && import.meta.url === pathToFileURL(realpathSync(entry)).href) {
  void main();
}
