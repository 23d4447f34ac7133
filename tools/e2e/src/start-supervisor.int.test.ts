import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { freePort, startRedis, waitForHttp, type TestRedis } from '@callback-gateway/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { API_TOKEN } from './stack.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));

/** The pids of `pid`'s children (Linux). */
function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
}

/** Running (not gone, nor a zombie waiting to be reaped). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function portTaken(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Polls until `check` holds; false once `timeoutMs` passed. */
async function eventually(check: () => Promise<boolean> | boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return check();
}

describe('npm start (scripts/start.mjs)', { timeout: 120_000 }, () => {
  let redis: TestRedis;
  let orphans: number[] = [];
  let supervisors: ChildProcess[] = [];

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(() => {
    // A failed test must not leave its processes behind (a killed parent stops what it runs).
    for (const supervisor of supervisors) supervisor.kill('SIGKILL');
    for (const pid of orphans) if (alive(pid)) process.kill(pid, 'SIGKILL');
    orphans = [];
    supervisors = [];
  });
  afterAll(async () => {
    await redis.close();
  });

  async function startSupervisor(extraEnv: Record<string, string> = {}) {
    const gatewayPort = await freePort();
    const workerPort = await freePort();
    const supervisor: ChildProcess = spawn(process.execPath, ['scripts/start.mjs'], {
      cwd: root,
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '',
        REDIS_URL: redis.url,
        GATEWAY_PORT: String(gatewayPort),
        WORKER_PORT: String(workerPort),
        GATEWAY_API_TOKENS: API_TOKEN,
        LOG_LEVEL: 'warn',
        SHUTDOWN_DEADLINE_MS: '3000',
        ...extraEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    supervisors.push(supervisor);
    let output = '';
    supervisor.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    supervisor.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // Generous: two cold Node processes on a busy machine.
    await waitForHttp(
      `http://127.0.0.1:${gatewayPort}/healthz`,
      (status) => status === 200,
      30_000,
    );
    await waitForHttp(`http://127.0.0.1:${workerPort}/healthz`, (status) => status === 200, 30_000);
    const pid = supervisor.pid ?? 0;
    const children = childrenOf(pid);
    orphans.push(...children);
    expect(children).toHaveLength(2);
    const summary = async () => {
      expect(await eventually(() => /\n-{78}\n$/m.test(output), 20_000), output).toBe(true);
      return output.slice(output.indexOf('Callback Gateway is running'));
    };
    return {
      supervisor,
      children,
      ports: [gatewayPort, workerPort],
      output: () => output,
      summary,
    };
  }

  for (const signal of ['SIGKILL', 'SIGHUP'] as const) {
    it(`stops the gateway and the worker, freeing their ports, when it gets ${signal}`, async () => {
      const { supervisor, children, ports, output } = await startSupervisor();
      supervisor.kill(signal);
      const gone = await eventually(async () => {
        const taken = await Promise.all(ports.map(portTaken));
        return children.every((pid) => !alive(pid)) && !taken.includes(true);
      }, 8_000);
      expect(gone, output()).toBe(true);
    });
  }

  it('stops everything when npm, which ran it as `npm start`, gets SIGKILL', async () => {
    const gatewayPort = await freePort();
    const workerPort = await freePort();
    // npm runs the script line through a shell that outlives npm's death: npm -> sh -> start.mjs.
    // A stand-in for npm (its argv[0] is "npm") runs it the same way.
    const line = `: && ${JSON.stringify(process.execPath)} scripts/start.mjs`;
    const npm = spawn(
      'bash',
      [
        '-c',
        `exec -a npm ${JSON.stringify(process.execPath)} -e ${JSON.stringify(
          `require('node:child_process').spawn('sh', ['-c', ${JSON.stringify(line)}], { stdio: 'inherit' }); setInterval(() => {}, 1000);`,
        )}`,
      ],
      {
        cwd: root,
        env: {
          PATH: process.env['PATH'] ?? '',
          HOME: process.env['HOME'] ?? '',
          npm_lifecycle_event: 'start',
          REDIS_URL: redis.url,
          GATEWAY_PORT: String(gatewayPort),
          WORKER_PORT: String(workerPort),
          GATEWAY_API_TOKENS: API_TOKEN,
          LOG_LEVEL: 'warn',
          SHUTDOWN_DEADLINE_MS: '3000',
        },
        stdio: ['ignore', 'ignore', 'ignore'],
      },
    );
    supervisors.push(npm);
    await waitForHttp(
      `http://127.0.0.1:${gatewayPort}/healthz`,
      (status) => status === 200,
      30_000,
    );
    await waitForHttp(`http://127.0.0.1:${workerPort}/healthz`, (status) => status === 200, 30_000);
    const [shell] = childrenOf(npm.pid ?? 0);
    const [startScript] = childrenOf(shell ?? 0);
    const started = [shell ?? 0, startScript ?? 0, ...childrenOf(startScript ?? 0)];
    orphans.push(...started);
    expect(started).toHaveLength(4);
    npm.kill('SIGKILL');
    const gone = await eventually(async () => {
      const taken = await Promise.all([gatewayPort, workerPort].map(portTaken));
      return started.every((pid) => !alive(pid)) && !taken.includes(true);
    }, 10_000);
    expect(gone).toBe(true);
  });

  it('stops the redis-server it runs through scripts/with-parent.mjs when it gets SIGKILL', async () => {
    const port = await freePort();
    // A parent that starts redis-server the way start.mjs does, then waits.
    const parent = spawn(
      process.execPath,
      [
        '-e',
        `const { spawn } = require('node:child_process');
         const child = spawn(process.execPath, ['scripts/with-parent.mjs', 'redis-server',
           '--port', '${port}', '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
           { stdio: ['ignore', 'ignore', 'ignore', 'ipc'], detached: true });
         console.log(String(child.pid));
         setInterval(() => {}, 1000);`,
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    supervisors.push(parent);
    const keeper = await new Promise<number>((resolve, reject) => {
      let printed = '';
      parent.stdout?.on('data', (chunk: Buffer) => {
        printed += chunk.toString();
        const line = printed.split('\n');
        if (line.length < 2) return;
        const pid = Number(line[0]);
        if (Number.isInteger(pid) && pid > 0) resolve(pid);
        else reject(new Error(`the parent printed no pid: ${printed}`));
      });
    });
    orphans.push(keeper);
    expect(await eventually(() => portTaken(port), 5_000)).toBe(true);
    orphans.push(...childrenOf(keeper));
    parent.kill('SIGKILL');
    expect(await eventually(async () => !(await portTaken(port)) && !alive(keeper), 8_000)).toBe(
      true,
    );
  });

  function stop(supervisor: ChildProcess) {
    const exited = new Promise((resolve) => supervisor.once('exit', resolve));
    supervisor.kill('SIGTERM');
    return exited;
  }

  /** Runs a command line the way a person pasting it into a shell would. */
  function paste(line: string, env: Record<string, string>) {
    return new Promise<string>((resolve, reject) =>
      execFile(
        'sh',
        ['-c', line],
        { env: { PATH: process.env['PATH'] ?? '', ...env } },
        (error, stdout) => (error ? reject(error) : resolve(stdout)),
      ),
    );
  }

  it('prints one summary whose next command is complete: without a public URL it answers 503 and why', async () => {
    const pipelinePort = await freePort();
    const { supervisor, ports, summary } = await startSupervisor({
      OUTBOUND_ALLOW: `127.0.0.1:${pipelinePort}`,
    });
    const text = await summary();
    expect(text).toContain(`gateway     http://127.0.0.1:${ports[0]}`);
    expect(text).toContain(`worker      http://127.0.0.1:${ports[1]}`);
    expect(text).toContain(
      `dashboard   http://127.0.0.1:${ports[0]}/dashboard   (sign in with the API token)`,
    );
    expect(text).toContain('API token   the first of GATEWAY_API_TOKENS');
    expect(text).toContain('public URL  none configured: registrations are refused (503)');
    const curl = text.split('\n').find((line) => line.trim().startsWith('curl ')) ?? '';
    expect(curl).not.toContain('...');
    const answer = JSON.parse(await paste(curl, { GATEWAY_API_TOKENS: API_TOKEN })) as Record<
      string,
      unknown
    >;
    expect(answer).toMatchObject({ error: 'webhook_url_unavailable' });
    await stop(supervisor);
  });

  it('in local-only mode, says so, and its next command registers a job flagged local-only', async () => {
    const pipelinePort = await freePort();
    const { supervisor, summary, output } = await startSupervisor({
      GATEWAY_LOCAL_ONLY: 'true',
      // As the README's local recipe: a pipeline on this machine, let through.
      OUTBOUND_ALLOW: `127.0.0.1:${pipelinePort}`,
    });
    const text = await summary();
    expect(text).toContain('public URL  LOCAL-ONLY MODE (GATEWAY_LOCAL_ONLY=true)');
    const curl = text.split('\n').find((line) => line.trim().startsWith('curl ')) ?? '';
    const answer = JSON.parse(await paste(curl, { GATEWAY_API_TOKENS: API_TOKEN })) as Record<
      string,
      unknown
    >;
    expect(answer).toMatchObject({
      local_only: true,
      callback_url: null,
      deliver_to: `http://127.0.0.1:${pipelinePort}/callbacks`,
    });
    // The rest of the README's local recipe: a callback posted from this machine reaches the
    // pipeline.
    const received = new Promise<string>((resolve) => {
      const pipeline = createServer((request, response) => {
        let body = '';
        request.on('data', (chunk: Buffer) => (body += chunk.toString()));
        request.on('end', () => {
          response.end();
          pipeline.close();
          resolve(body);
        });
      }).listen(pipelinePort, '127.0.0.1');
    });
    const callback = await paste(
      `curl -sS -o /dev/null -w '%{http_code}' -X POST '${String(answer['local_callback_url'])}' -H 'Content-Type: application/json' -d '{"event_id":"evt-1","event_type":"parse.success","data":{"job_id":"job-1"}}'`,
      {},
    );
    expect(callback).toBe('202');
    const delivered = await Promise.race([
      received,
      new Promise<string>((_resolve, reject) =>
        setTimeout(() => reject(new Error(`no delivery in 30 s; output:\n${output()}`)), 30_000),
      ),
    ]);
    expect(JSON.parse(delivered)).toMatchObject({ registration_id: answer['id'] });
    await stop(supervisor);
  });
});
