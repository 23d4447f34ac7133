import { watchSupervisor } from '@callback-gateway/bootstrap';
import { handleShutdownSignals, loadSettingsOrExit } from '@callback-gateway/runtime';
import { loadWorkerConfig } from './config.js';
import { startWorker } from './start.js';

async function main(): Promise<void> {
  const config = loadSettingsOrExit('worker', () => loadWorkerConfig(process.env));
  const worker = await startWorker(config);
  const shutdown = handleShutdownSignals({
    logger: worker.logger,
    deadlineMs: config.SHUTDOWN_DEADLINE_MS,
    close: () => worker.close(),
  });
  // Under `npm start`: stop with the supervisor, however it goes.
  watchSupervisor({
    logger: worker.logger,
    onGone: () => shutdown('supervisor gone'),
    listening: { process: 'worker', url: worker.url },
  });
}

main().catch((error: unknown) => {
  console.error(
    `worker: could not start: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exit(1);
});
