import { resolve } from 'node:path';
import { maskUrlCredentials } from '@callback-gateway/runtime';
import { cpuPlan } from './cpus.mjs';

export const SCENARIOS = ['ingest', 'delivery', 'e2e', 'resolver', 'memory', 'floors', 'dashboard'];
/** Run only when named (or with `--cluster`): not part of the default run. */
export const EXTRA_SCENARIOS = ['cluster'];

/** Full settings (the defaults) and the `--quick` preset. Every key is also a flag
 * (`--e2e-duration=20`) and an environment variable (`BENCH_E2E_DURATION=20`). */
const FULL = {
  rounds: 1, // baseline/candidate pairs per figure; the ratio reported is their median
  warmup: 5, // seconds of discarded load before each measured run
  connections: 50,
  ingestDuration: 30,
  bodyBytes: 2048,
  legacyBytes: 1024 * 1024,
  legacyRequests: 1000,
  registrations: 100, // callback URLs the 2 KB envelopes are spread over
  deliveryCount: 20_000,
  e2eRates: '1000,2000',
  e2eDuration: 60,
  e2eDrainTimeout: 120, // seconds to wait, after the last send, for every acked callback
  soakRate: 1000,
  soakDuration: 300,
  resolverFailures: 200,
  resolverCalls: 10_000,
  dashboardRegistrations: 10_000, // registrations in the store the dashboard reads
  dashboardDeadLetters: 1_000, // of them dead-lettered
  dashboardCalls: 50, // timed calls per data route
  aof: 'off',
  redisSocket: false, // gateway and worker reach Redis over its Unix socket instead of TCP
  nodeArgs: '', // extra Node options of the gateway and worker processes (space-separated)
  appEnv: '', // settings of the gateway and worker: KEY=VALUE, comma-separated
  profile: false, // also profile the gateway (2 KB ingest) and the worker (delivery)
  profileDir: '', // keep the .cpuprofile files here (for DevTools; implies --profile)
};

const QUICK = {
  warmup: 2,
  ingestDuration: 10,
  legacyRequests: 300,
  deliveryCount: 5_000,
  e2eRates: '1000',
  e2eDuration: 20,
  soakDuration: 60,
  dashboardCalls: 20,
};

const flagName = (key) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const envName = (key) => `BENCH_${flagName(key).replace(/-/g, '_').toUpperCase()}`;

function coerce(key, raw) {
  const fallback = FULL[key];
  if (typeof fallback === 'boolean') return raw === '' || raw === 'true' || raw === '1';
  if (typeof fallback === 'number') {
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) throw new Error(`--${flagName(key)}: not a number`);
    return value;
  }
  return raw;
}

export function usage() {
  const lines = Object.entries(FULL).map(
    ([key, value]) =>
      `  --${flagName(key).padEnd(20)} ${envName(key).padEnd(28)} default ${value}` +
      (key in QUICK ? `, quick ${QUICK[key]}` : ''),
  );
  return [
    'usage: npm run bench -- [scenario ...] [--quick] [--cluster] [--flag=value ...]',
    `scenarios: ${SCENARIOS.join(', ')} (default: all of these); ${EXTRA_SCENARIOS.join(', ')} (only when named)`,
    '  --cluster              ingest, delivery and e2e on one Redis and on a local Redis Cluster',
    'flags (or environment variables):',
    ...lines,
    '  --out=FILE             BENCH_OUT                    default bench/results/<date>.json',
  ].join('\n');
}

/** Settings the harness gives the processes itself: `--app-env` may not change them. */
const HARNESS_OWNED = [
  'REDIS_URL',
  'REDIS_CLUSTER_NODES',
  'GATEWAY_HOST',
  'GATEWAY_PORT',
  'WORKER_HOST',
  'WORKER_PORT',
  'GATEWAY_API_TOKENS',
];

/**
 * `--app-env=GATEWAY_INTAKE_LINGER_MS=0,WORKER_CONCURRENCY=100`: settings (README) of the
 * gateway and worker processes, on top of the harness's own, so any of them can be measured.
 * A comma ends a pair only where the next `KEY=` begins, so list values keep theirs
 * (`OUTBOUND_ALLOW=127.0.0.1,::1`).
 */
export function parseAppEnv(raw) {
  const env = {};
  const text = String(raw).replace(/[\s,]+$/, ''); // a trailing comma ends nothing
  for (const pair of text.split(/,(?=\s*[A-Z][A-Z0-9_]*=)/)) {
    if (pair.trim() === '') continue;
    const match = /^\s*([A-Z][A-Z0-9_]*)=(.*)$/s.exec(pair);
    if (!match) {
      // Only what precedes a `=`: the rest may be part of a secret.
      const head = pair.split('=')[0].trim().slice(0, 40);
      throw new Error(`--app-env: "${head}" is not KEY=VALUE (KEY in capitals)`);
    }
    const [, key, value] = match;
    if (HARNESS_OWNED.includes(key)) {
      throw new Error(`--app-env: ${key} is set by the harness (${HARNESS_OWNED.join(', ')})`);
    }
    env[key] = value.trim();
  }
  return env;
}

/** `--app-env` for the report: values of secret-looking keys are not printed (nor Slack and
 * notification URLs, which embed tokens), and credentials inside URLs are masked. */
export function describeAppEnv(env) {
  return Object.entries(env)
    .map(([key, value]) =>
      /TOKEN|SECRET|KEY|PASSWORD|AUTH|SLACK|NOTIFY_.*URLS/.test(key)
        ? `${key}=(set)`
        : `${key}=${maskUrlCredentials(value)}`,
    )
    .join(', ');
}

/** Reads scenarios and settings from argv and the environment (flags win). */
export function parseSettings(argv, env = process.env) {
  const scenarios = [];
  const flags = {};
  for (const arg of argv) {
    if (arg === '--help' || arg === '-h') return { help: true };
    const match = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(arg);
    if (match) flags[match[1]] = match[2] ?? '';
    else if (SCENARIOS.includes(arg) || EXTRA_SCENARIOS.includes(arg)) scenarios.push(arg);
    else throw new Error(`unknown argument ${arg}\n${usage()}`);
  }
  const quick = 'quick' in flags || env['BENCH_QUICK'] === '1';
  delete flags['quick'];
  // `--cluster`: the cluster scenario (one Redis and a Redis Cluster, side by side).
  if ('cluster' in flags) {
    if (!scenarios.includes('cluster')) scenarios.push('cluster');
    delete flags['cluster'];
  }
  const out = flags['out'] ?? env['BENCH_OUT'];
  delete flags['out'];
  const settings = { ...FULL, ...(quick ? QUICK : {}) };
  for (const key of Object.keys(FULL)) {
    if (env[envName(key)] !== undefined) settings[key] = coerce(key, env[envName(key)]);
  }
  for (const [name, raw] of Object.entries(flags)) {
    const key = Object.keys(FULL).find((candidate) => flagName(candidate) === name);
    if (!key) throw new Error(`unknown flag --${name}\n${usage()}`);
    settings[key] = coerce(key, raw);
  }
  settings.rounds = Math.max(1, Math.round(settings.rounds));
  settings.appEnv = parseAppEnv(settings.appEnv);
  // Paths name places in the shell the user typed in (`npm run` moves to the repository root).
  const where = (path) => resolve(env['INIT_CWD'] ?? process.cwd(), path);
  if (settings.profileDir) {
    settings.profileDir = where(settings.profileDir);
    settings.profile = true; // a directory for profiles asks for them
  }
  if (
    (scenarios.length === 0 || scenarios.includes('ingest')) &&
    settings.legacyRequests < settings.connections
  ) {
    throw new Error(
      `--legacy-requests (${settings.legacyRequests}) must be at least --connections (${settings.connections}): each connection sends at least one 1 MB request`,
    );
  }
  if (
    (scenarios.length === 0 || scenarios.includes('delivery')) &&
    settings.deliveryCount < settings.connections
  ) {
    throw new Error(
      `--delivery-count (${settings.deliveryCount}) must be at least --connections (${settings.connections}): the queue is filled over that many connections`,
    );
  }
  settings.e2eRates = String(settings.e2eRates).split(',').map(Number).filter(Boolean);
  settings.cpus = cpuPlan();
  return {
    help: false,
    quick,
    out: out ? where(out) : undefined,
    scenarios: scenarios.length ? scenarios : SCENARIOS,
    settings,
  };
}
