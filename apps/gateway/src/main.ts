import { handleShutdownSignals, loadSettingsOrExit } from '@callback-gateway/runtime';
import { loadGatewayConfig } from './config.js';
import { startGateway } from './start.js';

async function main(): Promise<void> {
  const config = loadSettingsOrExit('gateway', () => loadGatewayConfig(process.env));
  const gateway = await startGateway(config);
  handleShutdownSignals({
    logger: gateway.logger,
    deadlineMs: config.SHUTDOWN_DEADLINE_MS,
    close: () => gateway.close(),
  });
}

main().catch((error: unknown) => {
  console.error(
    `gateway: could not start: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exit(1);
});
