import { watchSupervisor } from '@callback-gateway/bootstrap';
import { handleShutdownSignals, loadSettingsOrExit } from '@callback-gateway/runtime';
import { loadGatewayConfig } from './config.js';
import { startGateway } from './start.js';

async function main(): Promise<void> {
  const config = loadSettingsOrExit('gateway', () => loadGatewayConfig(process.env));
  const gateway = await startGateway(config);
  const shutdown = handleShutdownSignals({
    logger: gateway.logger,
    deadlineMs: config.SHUTDOWN_DEADLINE_MS,
    close: () => gateway.close(),
  });
  // Under `npm start`: stop with the supervisor, however it goes.
  watchSupervisor({
    logger: gateway.logger,
    onGone: () => shutdown('supervisor gone'),
    listening: { process: 'gateway', url: gateway.url },
  });
}

main().catch((error: unknown) => {
  console.error(
    `gateway: could not start: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exit(1);
});
