import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { onCleanup } from './util.mjs';

/**
 * Starts one of the bench's helper scripts (`lib/<name>.mjs`) as a Node process with an IPC
 * channel, optionally under `taskset -c <cpus>`, and returns `call(cmd, args)` to talk to it.
 * The helper answers with {@link serve}. Stopped by the scenario's cleanup.
 */
export async function startHelper(name, { cpus = '', nodeArgs = [] } = {}) {
  const script = fileURLToPath(new URL(`./${name}.mjs`, import.meta.url));
  const [command, args] = cpus
    ? ['taskset', ['-c', cpus, process.execPath, ...nodeArgs, script]]
    : [process.execPath, [...nodeArgs, script]];
  const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map();
  let nextId = 0;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.on('message', ({ id, result, error }) => {
    const waiter = pending.get(id);
    if (!waiter) return;
    pending.delete(id);
    if (error) waiter.reject(new Error(`${name}: ${error}`));
    else waiter.resolve(result);
  });
  void exited.then((code) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`${name} exited (${code})`));
    pending.clear();
  });
  const helper = {
    pid: child.pid,
    call(cmd, params = {}) {
      return new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        child.send({ id, cmd, params });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
  onCleanup(() => helper.stop());
  await helper.call('ping');
  return helper;
}

/** The helper side: answers `call()`s with `handlers[cmd](params)`. */
export function serve(handlers) {
  const all = { ping: () => 'pong', ...handlers };
  process.on('message', async ({ id, cmd, params }) => {
    try {
      const handler = all[cmd];
      if (!handler) throw new Error(`unknown command ${cmd}`);
      process.send({ id, result: await handler(params) });
    } catch (error) {
      process.send({ id, error: String(error?.stack ?? error) });
    }
  });
  process.on('SIGTERM', () => process.exit(0));
  process.on('disconnect', () => process.exit(0));
}

/** An ioredis client for the peers: `redis://` or the bench's `unix://` socket URL. */
export function redisClient(url, options = {}) {
  const socket = url.startsWith('unix://') ? { path: url.slice('unix://'.length) } : undefined;
  return socket
    ? new Redis({ ...socket, maxRetriesPerRequest: null, ...options })
    : new Redis(url, { maxRetriesPerRequest: null, ...options });
}
