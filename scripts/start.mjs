#!/usr/bin/env node
// `npm start`: runs the gateway and the worker together with local defaults.
// - With REDIS_URL unset and nothing answering on 127.0.0.1:6379, it starts a local
//   redis-server (AOF on, data in .local/redis) when one is on PATH, and says so.
// - With GATEWAY_API_TOKENS unset, it creates a local API token in .local/api-token (mode 0600)
//   and says where it is (never prints the token itself).
// - Once both listen, it prints one summary: where the gateway, the worker and the dashboard
//   are, the API token, the public callback URL's state and the next command to try.
// - Ctrl-C (SIGINT), SIGTERM or SIGHUP (the terminal closed) stops both processes (and that
//   redis-server) cleanly. Each child holds an IPC channel to this script and stops when it
//   closes, so they stop with it however it goes, SIGKILL and crashes included. It stops too
//   when npm, which ran it as `npm start`, goes (see the watch below).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const local = join(root, '.local');
const say = (line) => console.log(`start: ${line}`);

function redisAnswers(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (value) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (chunk) => done(chunk.toString().startsWith('+PONG')));
  });
}

const children = [];
/** Where each child listens, as it tells (see watchSupervisor). */
const listening = {};
const env = { ...process.env };

if (!env.REDIS_URL) {
  if (await redisAnswers(6379)) {
    say('using the Redis on 127.0.0.1:6379 (set REDIS_URL to use another)');
  } else if (spawnSync('redis-server', ['--version']).status === 0) {
    const dir = join(local, 'redis');
    mkdirSync(dir, { recursive: true });
    // redis-server cannot watch its parent: a small Node process does it for it.
    const redis = spawn(
      process.execPath,
      [
        join(root, 'scripts', 'with-parent.mjs'),
        'redis-server',
        ...['--port', '6379', '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes'],
        ...['--save', ''],
      ],
      { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], detached: true },
    );
    children.push({ name: 'redis-server', child: redis, last: true });
    say(
      `no Redis on 127.0.0.1:6379 and REDIS_URL is unset: started a local redis-server (AOF in .local/redis, pid ${redis.pid}); it stops with this command`,
    );
  } else {
    say(
      'no Redis on 127.0.0.1:6379, REDIS_URL is unset and redis-server is not installed: the processes start and wait for Redis (install it: apt-get install redis-server)',
    );
  }
}

const tokenFromFile = !env.GATEWAY_API_TOKENS;
if (tokenFromFile) {
  const file = join(local, 'api-token');
  if (!existsSync(file)) {
    mkdirSync(local, { recursive: true });
    writeFileSync(file, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });
  }
  env.GATEWAY_API_TOKENS = readFileSync(file, 'utf8').trim();
  say(
    'GATEWAY_API_TOKENS is unset: using the local API token in .local/api-token (Authorization: Bearer $(cat .local/api-token))',
  );
}

for (const name of ['gateway', 'worker']) {
  const child = spawn(process.execPath, [join(root, 'apps', name, 'dist', 'main.js')], {
    env,
    // The IPC channel is how a child notices this script is gone (see watchSupervisor).
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // Own process group: a terminal's Ctrl-C reaches this script, which stops them in order.
    detached: true,
  });
  children.push({ name, child });
  child.on('message', (message) => {
    if (message?.type !== 'listening') return;
    listening[message.process] = message.url;
    if (listening.gateway && listening.worker) void printSummary();
  });
}

let stopping = false;
async function stopAll(code) {
  if (stopping) return;
  stopping = true;
  const exited = (child) =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise((resolve) => child.once('exit', resolve));
  const apps = children.filter((entry) => !entry.last);
  for (const { child } of apps) child.kill('SIGTERM');
  await Promise.all(apps.map(({ child }) => exited(child)));
  for (const { child } of children.filter((entry) => entry.last)) {
    child.kill('SIGTERM');
    await exited(child);
  }
  process.exit(code);
}

process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));
process.on('SIGHUP', () => void stopAll(0));

// Run as `npm start`, this script is npm's grandchild (npm, then the shell running the script
// line). SIGKILL of npm itself leaves that shell and this script running: watch npm too, and
// the direct parent, and stop when either goes. Linux only (/proc); elsewhere signals suffice.
function parentOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}
function commandOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}
const watched = [process.ppid];
if (process.env.npm_lifecycle_event) {
  for (let pid = parentOf(process.ppid), hops = 0; pid && pid > 1 && hops < 3; hops++) {
    if (/\bnpm\b|npm-cli/.test(commandOf(pid))) {
      watched.push(pid);
      break;
    }
    pid = parentOf(pid);
  }
}
const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
};
setInterval(() => {
  if (stopping) return;
  // A parent that died is seen by the reparenting (it may linger as a zombie); npm, by its pid.
  const gone = process.ppid !== watched[0] ? watched[0] : watched.find((pid) => !alive(pid));
  if (gone !== undefined) {
    say(`the process that started this one (pid ${gone}) is gone: stopping`);
    void stopAll(0);
  }
}, 1_000).unref();
for (const { name, child } of children) {
  child.once('exit', (code, signal) => {
    if (stopping) return;
    say(`${name} exited (${signal ?? `code ${code}`}): stopping the others`);
    void stopAll(code === 0 ? 1 : (code ?? 1));
  });
}

/** The public callback URL's state once it has settled (or after 15 s), from the gateway. */
async function publicUrlState(gateway) {
  const configured = Boolean(env.PUBLIC_BASE_URL || env.NGROK_AUTHTOKEN);
  const deadline = Date.now() + 15_000;
  let view;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${gateway}/v1/webhook-url`, {
        signal: AbortSignal.timeout(1_000),
      });
      view = await response.json();
      if (view.base_url || view.local_only || view.last_failure || !configured) break;
    } catch {
      // not answering yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  if (view?.base_url) {
    return `${view.base_url} (from ${view.source}, verified by ${view.verified_by}): registrations get callback URLs under it`;
  }
  if (view?.local_only) {
    return 'LOCAL-ONLY MODE (GATEWAY_LOCAL_ONLY=true): registrations work on this machine only, with callback_url null; no parser can call back';
  }
  if (view?.last_failure) {
    return `not verified yet: ${view.last_failure.message}; registrations are refused (503) until it is (see ${gateway}/v1/webhook-url)`;
  }
  if (configured) {
    return `not resolved yet; registrations are refused (503) until it is (see ${gateway}/v1/webhook-url)`;
  }
  return 'none configured: registrations are refused (503), never given a localhost URL. Set NGROK_AUTHTOKEN=<your ngrok authtoken> for a real public URL, or GATEWAY_LOCAL_ONLY=true to try the API on this machine (README, "Running it")';
}

let summarized = false;
/** One block a person reads after `npm start`, beside the processes' JSON log lines. */
async function printSummary() {
  if (summarized) return;
  summarized = true;
  const gateway = listening.gateway;
  const state = await publicUrlState(gateway);
  if (stopping) return;
  const bearer = tokenFromFile ? '$(cat .local/api-token)' : '${GATEWAY_API_TOKENS%%,*}';
  // A local pipeline the outbound policy lets through (the README's local recipe), else any
  // public URL.
  const allowed = (env.OUTBOUND_ALLOW ?? '').split(',')[0].trim();
  const deliverTo = /^(\d{1,3}(\.\d{1,3}){3}|localhost|\[[\da-f:]+\]):\d+$/i.test(allowed)
    ? `http://${allowed}/callbacks`
    : 'https://example.com/callbacks';
  const curl = `curl -sS -X POST ${gateway}/v1/registrations -H "Authorization: Bearer ${bearer}" -H 'Content-Type: application/json' -d '{"deliver_to":"${deliverTo}","source":"llamaparse"}'`;
  const rule = '-'.repeat(78);
  console.log(
    [
      '',
      rule,
      'Callback Gateway is running (Ctrl-C stops it)',
      `  gateway     ${gateway}   (/healthz, /readyz, /metrics)`,
      `  worker      ${listening.worker}   (/healthz, /readyz, /metrics)`,
      `  dashboard   ${gateway}/dashboard   (sign in with the API token)`,
      `  API token   ${tokenFromFile ? '.local/api-token (mode 0600; print it: cat .local/api-token)' : 'the first of GATEWAY_API_TOKENS (from your environment)'}`,
      `  API docs    ${gateway}/docs/   (OpenAPI: ${gateway}/openapi.json)`,
      `  public URL  ${state}`,
      `  next, in another terminal in this folder (${state.startsWith('none') || state.startsWith('not') ? 'answers 503 with the reason until a public URL is set' : 'registers a job'}):`,
      `    ${curl}`,
      rule,
      '',
    ].join('\n'),
  );
}
