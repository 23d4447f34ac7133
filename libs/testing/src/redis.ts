import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/** Options for {@link startRedis}. */
export interface StartRedisOptions {
  /**
   * Keep data on disk with an append-only file fsynced on every write, so a restart keeps
   * every acknowledged write (what durability tests need).
   * @defaultValue false
   */
  persistent?: boolean;
  /** Extra `redis-server` arguments, e.g. `['--maxmemory', '10mb']`. */
  args?: readonly string[];
  /**
   * The `redis-server` binary.
   * @defaultValue `'redis-server'` from PATH
   */
  binary?: string;
  /**
   * A fixed port (e.g. one a process under test already retries). Default: a free one.
   */
  port?: number;
  /**
   * How long to wait for the server to answer PING after a (re)start.
   * @defaultValue 10_000
   */
  readyTimeoutMs?: number;
  /**
   * Also listen on a Unix socket in the data directory (`socketUrl`).
   * @defaultValue false
   */
  unixSocket?: boolean;
}

/** A throwaway `redis-server` owned by one test file. */
export interface TestRedis {
  readonly host: string;
  /** The port; it stays the same across {@link TestRedis.restart}. */
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** `unix://<data directory>/redis.sock` when started with `unixSocket`, else undefined. */
  readonly socketUrl: string | undefined;
  /** Its own data directory, removed by {@link TestRedis.close}. */
  readonly dataDir: string;
  /** True while the process runs. */
  readonly running: boolean;
  /** Stops the server gracefully (SHUTDOWN semantics: SIGTERM). Data persists if `persistent`. */
  stop(): Promise<void>;
  /** Kills the server with SIGKILL, as a crash would. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data directory, and waits until it answers. */
  start(): Promise<void>;
  /** {@link TestRedis.stop} then {@link TestRedis.start}. */
  restart(): Promise<void>;
  /** Stops the server and removes its data directory. Idempotent. */
  close(): Promise<void>;
}

const HOST = '127.0.0.1';

/** Finds a free TCP port on loopback by binding port 0. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not read the port of a loopback listener'));
      });
    });
  });
}

/** Sends one inline command and returns the first reply line, or null when nothing answers. */
async function ping(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    let reply = '';
    const done = (value: string | null) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(500, () => done(null));
    socket.once('error', () => done(null));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) done(reply.split('\r\n')[0] ?? null);
    });
  });
}

/**
 * Starts a `redis-server` on a free loopback port with its own data directory.
 * The caller owns it and must `close()` it (typically in `afterAll`).
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<TestRedis> {
  const binary = options.binary ?? 'redis-server';
  const readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
  const dataDir = await mkdtemp(join(tmpdir(), 'cbg-redis-'));
  const socketPath = options.unixSocket ? join(dataDir, 'redis.sock') : undefined;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let port = 0;
  let closed = false;
  let lastOutput = '';

  const args = (): string[] => [
    '--port',
    String(port),
    '--bind',
    HOST,
    '--dir',
    dataDir,
    '--save',
    '',
    '--daemonize',
    'no',
    '--logfile',
    '',
    ...(socketPath ? ['--unixsocket', socketPath, '--unixsocketperm', '700'] : []),
    ...(options.persistent
      ? ['--appendonly', 'yes', '--appendfsync', 'always']
      : ['--appendonly', 'no']),
    ...(options.args ?? []),
  ];

  const launch = async (): Promise<void> => {
    const proc = spawn(binary, args(), { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    lastOutput = '';
    const keep = (chunk: Buffer) => {
      lastOutput = (lastOutput + chunk.toString('utf8')).slice(-4000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    let spawnError: Error | undefined;
    exited = new Promise((resolve) => {
      proc.once('error', (error) => {
        spawnError = error;
        resolve();
      });
      proc.once('exit', () => resolve());
    });
    const deadline = Date.now() + readyTimeoutMs;
    while (Date.now() < deadline) {
      if (spawnError) {
        throw new Error(
          `could not start ${binary}: ${spawnError.message}. Install it (Debian: apt-get install redis-server).`,
        );
      }
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`redis-server exited at start (port ${port}): ${lastOutput.trim()}`);
      }
      if ((await ping(port)) === '+PONG') return;
      await delay(25);
    }
    proc.kill('SIGKILL');
    throw new Error(`redis-server did not answer PING within ${readyTimeoutMs} ms on port ${port}`);
  };

  const signal = async (sig: NodeJS.Signals): Promise<void> => {
    const proc = child;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(sig);
    await exited;
  };

  // Another process may take the port between freePort() and the bind: try a few ports.
  for (let attempt = 1; ; attempt++) {
    port = options.port ?? (await freePort());
    try {
      await launch();
      break;
    } catch (error) {
      if (attempt >= 5 || options.port || !/Address already in use/i.test(lastOutput)) {
        await rm(dataDir, { recursive: true, force: true });
        throw error;
      }
    }
  }

  const handle: TestRedis = {
    host: HOST,
    get port() {
      return port;
    },
    get url() {
      return `redis://${HOST}:${port}`;
    },
    socketUrl: socketPath ? `unix://${socketPath}` : undefined,
    dataDir,
    get running() {
      return !!child && child.exitCode === null && child.signalCode === null;
    },
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    async start() {
      if (closed) throw new Error('this test redis was closed');
      if (handle.running) return;
      await launch();
    },
    async restart() {
      await handle.stop();
      await handle.start();
    },
    async close() {
      if (closed) return;
      closed = true;
      await signal('SIGTERM');
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return handle;
}
