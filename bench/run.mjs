// `npm run bench [-- scenario ...] [--quick] [--flag=value ...]`: see bench/README.md.
import { fileURLToPath } from 'node:url';
import { commandsText } from './lib/redis-commands.mjs';
import { markdownTable, profileText, textTable, writeResults } from './lib/report.mjs';
import { describeAppEnv, parseSettings, usage } from './lib/settings.mjs';
import { cleanup, log, machine, scoped } from './lib/util.mjs';
import { cluster } from './scenarios/cluster.mjs';
import { dashboard } from './scenarios/dashboard.mjs';
import { delivery } from './scenarios/delivery.mjs';
import { e2e } from './scenarios/e2e.mjs';
import { floors } from './scenarios/floors.mjs';
import { ingest } from './scenarios/ingest.mjs';
import { memory } from './scenarios/memory.mjs';
import { resolver } from './scenarios/resolver.mjs';

const RUNNERS = { ingest, delivery, e2e, resolver, memory, floors, dashboard, cluster };

let parsed;
try {
  parsed = parseSettings(process.argv.slice(2));
} catch (error) {
  console.error(error.message);
  process.exit(2);
}
if (parsed.help) {
  console.log(usage());
  process.exit(0);
}
const { settings, scenarios, quick } = parsed;

process.on('SIGINT', () => {
  log('interrupted: stopping everything this run started');
  void cleanup().finally(() => process.exit(130));
});

const appSettings = describeAppEnv(settings.appEnv);
const startedAt = new Date();
const results = {
  date: startedAt.toISOString(),
  command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
  quick,
  machine: machine(),
  pinning: settings.cpus.note,
  settings: { ...settings, cpus: undefined, appEnv: appSettings },
  scenarios: {},
  rows: [],
};
log(
  `${results.machine.cores} cores (${results.machine.cpu}), Node ${results.machine.node}, ` +
    `load ${results.machine.loadavg.join(' ')}; ${settings.cpus.note}; Redis AOF ${settings.aof}${settings.redisSocket ? ', over its Unix socket' : ''}` +
    (quick ? '; quick settings' : '') +
    (appSettings ? `; app settings ${appSettings}` : ''),
);

let failed = false;
for (const name of scenarios) {
  const started = Date.now();
  try {
    const { rows, raw } = await scoped(() => RUNNERS[name](settings));
    results.rows.push(...rows);
    results.scenarios[name] = { seconds: (Date.now() - started) / 1000, ...{ raw } };
  } catch (error) {
    failed = true;
    log(`${name} failed: ${error?.stack ?? error}`);
    results.scenarios[name] = { error: String(error?.message ?? error) };
  }
}
await cleanup();
results.machine.loadavgAtEnd = machine().loadavg;

const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
const out = parsed.out ?? fileURLToPath(new URL(`./results/${stamp}.json`, import.meta.url));
await writeResults(out, results);

console.log(
  `\nCallback Gateway bench, ${results.date}: ${results.machine.cores} cores, Node ` +
    `${results.machine.node}, ${settings.cpus.note}, Redis AOF ${settings.aof}${settings.redisSocket ? ', over its Unix socket' : ''}` +
    `${quick ? ', quick settings' : ''}${appSettings ? `, app settings ${appSettings}` : ''}\n`,
);
console.log(textTable(results.rows));
const profile = results.scenarios.ingest?.raw?.profile;
if (profile) console.log(`\n${profileText(profile)}`);
if (profile?.legacy) {
  const title = 'Gateway CPU profile under the 1 MB legacy load (a separate, profiled run):';
  console.log(`\n${profileText(profile.legacy, title)}`);
}
const workerProfile = results.scenarios.delivery?.raw?.profile;
if (workerProfile) {
  const title = 'Worker CPU profile while delivering a full queue (a separate, profiled run):';
  console.log(`\n${profileText(workerProfile, title)}`);
}
const ingestCommands = results.scenarios.ingest?.raw?.redisCommands;
if (ingestCommands) {
  const title = `Redis commands per acknowledged ${settings.bodyBytes} B callback (INFO commandstats, gateway runs):`;
  console.log(`\n${commandsText(ingestCommands, title)}`);
}
const peerIngestCommands = results.scenarios.ingest?.raw?.peerCommands;
if (peerIngestCommands) {
  const title = `Redis commands per acknowledged ${settings.bodyBytes} B callback (naive ingest peer runs):`;
  console.log(`\n${commandsText(peerIngestCommands, title)}`);
}
const deliveryCommands = results.scenarios.delivery?.raw?.redisCommands;
if (deliveryCommands) {
  const title = 'Redis commands per delivery (INFO commandstats, while the worker delivers):';
  console.log(`\n${commandsText(deliveryCommands, title)}`);
}
const peerDeliveryCommands = results.scenarios.delivery?.raw?.peerCommands;
if (peerDeliveryCommands) {
  const title = 'Redis commands per delivery (naive delivery peer):';
  console.log(`\n${commandsText(peerDeliveryCommands, title)}`);
}
if (process.env['BENCH_MARKDOWN'] === '1') console.log(`\n${markdownTable(results.rows)}`);
console.log(`\nresults: ${out}`);
process.exit(failed ? 1 : 0);
