import { handleShutdownSignals, loadSettingsOrExit } from '@callback-gateway/runtime';
import { loadWorkerConfig } from './config.js';
import { startWorker } from './start.js';

async function main(): Promise<void> {
  const config = loadSettingsOrExit('worker', () => loadWorkerConfig(process.env));
  const worker = await startWorker(config);
  handleShutdownSignals({
    logger: worker.logger,
    deadlineMs: config.SHUTDOWN_DEADLINE_MS,
    close: () => worker.close(),
  });
}

main().catch((error: unknown) => {
  console.error(
    `worker: could not start: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exit(1);
});
