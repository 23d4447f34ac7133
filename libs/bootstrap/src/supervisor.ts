import type { Logger } from '@callback-gateway/audit';

/** The part of `process` {@link watchSupervisor} uses. */
export interface SupervisedProcess {
  /** Present when the parent opened an IPC channel (`stdio: [..., 'ipc']`). */
  readonly channel?: unknown;
  once(event: 'disconnect', listener: () => void): unknown;
}

/** Options for {@link watchSupervisor}. */
export interface WatchSupervisorOptions {
  logger: Logger;
  /** Starts this process's own shutdown (the one SIGTERM starts). */
  onGone: () => void;
  /** @defaultValue `process` */
  target?: SupervisedProcess;
}

/**
 * Ties this process's life to the supervisor that started it with an IPC channel (`npm start`):
 * the kernel closes the channel when the supervisor goes, however it goes (SIGHUP, SIGKILL, a
 * crash), and this process then shuts down as on SIGTERM instead of living on as an orphan
 * that holds its port. A process started without a channel (a container, a process manager,
 * a test) is left alone. Returns whether a supervisor is watched.
 */
export function watchSupervisor(options: WatchSupervisorOptions): boolean {
  const target = options.target ?? process;
  if (!target.channel) return false;
  target.once('disconnect', () => {
    options.logger.warn(
      'the supervisor that started this process is gone (its IPC channel closed): shutting down',
    );
    options.onGone();
  });
  return true;
}
