// The gateway as a library, for starting it in-process (tests that inject the ngrok SDK, DNS and
// HTTP); `main.ts` is the process entry point.
export { loadGatewayConfig, gatewaySettingsSchema, type GatewayConfig } from './config.js';
export { startGateway, type StartGatewayDeps, type StartedGateway } from './start.js';
