import type { Logger } from '@callback-gateway/audit';

/** The part of `process` {@link watchSupervisor} uses. */
export interface SupervisedProcess {
  /** Present when the parent opened an IPC channel (`stdio: [..., 'ipc']`). */
  readonly channel?: unknown;
  once(event: 'disconnect', listener: () => void): unknown;
  send?(message: SupervisorMessage): unknown;
}

/** What a process tells its supervisor once it listens (`npm start` prints its summary). */
export interface SupervisorMessage {
  type: 'listening';
  /** `gateway` or `worker` */
  process: string;
  /** Where it listens, e.g. `http://127.0.0.1:8080` */
  url: string;
}

/** Options for {@link watchSupervisor}. */
export interface WatchSupervisorOptions {
  logger: Logger;
  /** Starts this process's own shutdown (the one SIGTERM starts). */
  onGone: () => void;
  /** Told to the supervisor at once: this process listens, and where. */
  listening?: Omit<SupervisorMessage, 'type'>;
  /** @defaultValue `process` */
  target?: SupervisedProcess;
}

/**
 * Ties this process's life to the supervisor that started it with an IPC channel (`npm start`):
 * the kernel closes the channel when the supervisor goes, however it goes (SIGHUP, SIGKILL, a
 * crash), and this process then shuts down as on SIGTERM instead of living on as an orphan
 * that holds its port. A process started without a channel (a container, a process manager,
 * a test) is left alone. Tells the supervisor where this process listens. Returns whether a
 * supervisor is watched.
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
  if (options.listening) target.send?.({ type: 'listening', ...options.listening });
  return true;
}
