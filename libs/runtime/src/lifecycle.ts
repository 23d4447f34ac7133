import type { Logger } from '@callback-gateway/audit';

/** One named readiness condition, e.g. `redis` or `queue`. */
export interface ReadinessCheck {
  name: string;
  /** True when ready; a string explains why not. */
  check(): true | string;
}

/** The readiness report served on `/readyz`. */
export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, { ready: boolean; reason?: string }>;
}

/** Evaluates readiness checks into a report. */
export function readiness(checks: readonly ReadinessCheck[]): ReadinessReport {
  const report: ReadinessReport = { ready: true, checks: {} };
  for (const item of checks) {
    let result: true | string;
    try {
      result = item.check();
    } catch (error) {
      result = error instanceof Error ? error.message : String(error);
    }
    report.checks[item.name] = result === true ? { ready: true } : { ready: false, reason: result };
    if (result !== true) report.ready = false;
  }
  return report;
}

/** Options for {@link handleShutdownSignals}. */
export interface ShutdownOptions {
  logger: Logger;
  /** Stops intake, drains, closes owned resources. */
  close: () => Promise<void>;
  /**
   * After this long the process exits anyway.
   * @defaultValue 10_000
   */
  deadlineMs?: number;
  /** @defaultValue `process` */
  target?: Pick<NodeJS.Process, 'on' | 'exit'>;
}

/**
 * On SIGINT/SIGTERM: close within a deadline, then exit 0 (1 if closing failed or timed out).
 * A second signal exits at once. Returns the same shutdown for other causes (its argument names
 * the cause in the log line), e.g. the supervisor going away.
 */
export function handleShutdownSignals(options: ShutdownOptions): (cause: string) => void {
  const target = options.target ?? process;
  const deadlineMs = options.deadlineMs ?? 10_000;
  let shuttingDown = false;
  const onSignal = (signal: string) => {
    if (shuttingDown) {
      options.logger.warn(`${signal} again: exiting now`);
      target.exit(1);
      return;
    }
    shuttingDown = true;
    options.logger.info(`${signal}: shutting down (at most ${deadlineMs / 1000} s)`);
    const timer = setTimeout(() => {
      options.logger.error(`shutdown did not finish within ${deadlineMs / 1000} s: exiting anyway`);
      target.exit(1);
    }, deadlineMs);
    timer.unref();
    options.close().then(
      () => {
        clearTimeout(timer);
        options.logger.info('shut down cleanly');
        target.exit(0);
      },
      (error: unknown) => {
        clearTimeout(timer);
        options.logger.error({ err: error }, 'shutdown failed');
        target.exit(1);
      },
    );
  };
  target.on('SIGINT', () => onSignal('SIGINT'));
  target.on('SIGTERM', () => onSignal('SIGTERM'));
  return onSignal;
}
