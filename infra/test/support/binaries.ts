import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

/** The first of `names` found on PATH; throws with how to install it otherwise. */
export function findBinary(names: readonly string[], debianPackage: string): string {
  for (const name of names) {
    const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (found.status === 0 && found.stdout.trim()) return found.stdout.trim();
  }
  throw new Error(
    `${names.join(' or ')} is missing: install the Debian "${debianPackage}" package (apt-get install ${debianPackage}; .ci/run does)`,
  );
}

/** Runs a command to completion; resolves its exit code and everything it printed. */
export function run(
  command: string,
  args: readonly string[],
): { status: number | null; output: string } {
  const result = spawnSync(command, [...args], { encoding: 'utf8' });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** A long-running child process (Prometheus, Alertmanager) that the test stops. */
export interface Daemon {
  /** The last few kilobytes it printed (for failure messages). */
  output(): string;
  stop(): Promise<void>;
}

export function startDaemon(command: string, args: readonly string[]): Daemon {
  const child: ChildProcess = spawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-8_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (error) => {
      output += String(error);
      resolve();
    });
  });
  return {
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
