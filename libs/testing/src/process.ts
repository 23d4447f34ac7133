import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Options for {@link startProcess}. */
export interface StartProcessOptions {
  /** Arguments after `node` (e.g. `['dist/main.js']`). */
  args: readonly string[];
  cwd?: string;
  /** Added to a minimal environment (PATH, HOME); the test's own environment is not inherited. */
  env?: Record<string, string>;
}

/** A child Node.js process whose output is kept line by line. */
export interface WatchedProcess {
  readonly child: ChildProcess;
  /** Every line printed so far on stdout and stderr. */
  readonly lines: string[];
  /** Resolves with the first line matching `pattern` (already printed or to come). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** True while the process runs. */
  readonly running: boolean;
  /** Its resident memory now (`VmRSS` of `/proc/<pid>/status`, Linux), in bytes; undefined once
   * it has exited. */
  rssBytes(): number | undefined;
  /** Sends `signal` and waits for the exit (SIGKILL after `timeoutMs`). Resolves the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

/** Starts `node <args>` and watches its output. The caller must `stop()` it. */
export function startProcess(options: StartProcessOptions): WatchedProcess {
  const child = spawn(process.execPath, [...options.args], {
    cwd: options.cwd,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const listeners = new Set<(line: string) => void>();
  const collect = (stream: NodeJS.ReadableStream | null) => {
    let rest = '';
    stream?.on('data', (chunk: Buffer) => {
      const parts = (rest + chunk.toString('utf8')).split('\n');
      rest = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        for (const listener of listeners) listener(line);
      }
    });
  };
  collect(child.stdout);
  collect(child.stderr);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );

  return {
    child,
    lines,
    get running() {
      return child.exitCode === null && child.signalCode === null;
    },
    rssBytes() {
      if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) {
        return undefined;
      }
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
        return kib === undefined ? undefined : Number(kib) * 1024;
      } catch {
        return undefined;
      }
    },
    waitForLine(pattern, timeoutMs = 10_000) {
      const seen = lines.find((line) => pattern.test(line));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(listener);
          reject(
            new Error(
              `no line matched ${pattern} within ${timeoutMs} ms; output:\n${lines.join('\n')}`,
            ),
          );
        }, timeoutMs);
        const listener = (line: string) => {
          if (!pattern.test(line)) return;
          clearTimeout(timer);
          listeners.delete(listener);
          resolve(line);
        };
        listeners.add(listener);
      });
    },
    async stop(signal = 'SIGTERM', timeoutMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
