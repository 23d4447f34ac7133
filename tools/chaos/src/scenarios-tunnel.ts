import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AuditEvent } from '@callback-gateway/audit';
import { deadLetters, metric, type ScenarioResult, type ScenarioSize } from './harness.js';
import type { Accounting } from './ledger.js';
import { recordSecretScan } from './secrets.js';
import { gatewayApi, sleep, until } from './stack.js';
import { openTunnelWorld, type IssuedJob, type TunnelWorld } from './tunnel-world.js';

const pick = <T>(size: ScenarioSize, short: T, full: T): T => (size === 'short' ? short : full);

/** The tunnel's URL in session `n` (ngrok's free plan gives a new one on every new session). */
const tunnelUrl = (n: number) => `https://chaos-session-${n}.ngrok-free.app`;

// What the alerts CbgwTunnelDown (`max(...) > 0` for 2m) and CbgwPublicUrlChanged
// (`increase(...[15m]) > 0` for 1m) evaluate; the scenario reads the same series from /metrics.
const TUNNEL_DOWN_SERIES = 'cbgw_tunnel_state{state=~"down|reconnecting"}';
const URL_CHANGES_SERIES = 'cbgw_webhook_url_changes_total';

// A host a callback URL must never have: localhost, or an IP literal (the policy wants a name).
const NOT_A_PUBLIC_NAME = /^(localhost|\d{1,3}(\.\d{1,3}){3}|\[)/i;

/**
 * The expression of a Prometheus alert in the shipped rules, so the series a scenario evaluates
 * by hand are known to be the ones the alert watches.
 */
function alertExpr(alert: string): string {
  const rules = readFileSync(
    fileURLToPath(
      new URL('../../../infra/prometheus/rules/callback-gateway.rules.yml', import.meta.url),
    ),
    'utf8',
  );
  const block = rules.split(/^\s*- alert: /m).find((entry) => entry.startsWith(`${alert}\n`));
  return /expr: (.+)/.exec(block ?? '')?.[1] ?? '';
}

/** The tunnel state label whose `cbgw_tunnel_state` gauge is 1 now. */
async function tunnelState(world: TunnelWorld): Promise<string> {
  const text = await (await fetch(`${world.gateway.url}/metrics`)).text();
  return /^cbgw_tunnel_state\{[^}]*state="([a-z]+)"[^}]*\} 1$/m.exec(text)?.[1] ?? 'none';
}

/** What one outage showed while it lasted. */
interface OutageFigures {
  state: string;
  /** `CbgwTunnelDown`'s expression, `cbgw_tunnel_state{state=~"down|reconnecting"} > 0`. */
  tunnelDownSignal: boolean;
  readyz: string;
  attempts: { status: number; error?: string; reasons: string[]; callbackUrl?: string }[];
  gaveUp: number;
}

/**
 * The tunnel session drops (the SDK reports it closed, its URL stops routing, ngrok cannot be
 * reached) and comes back under a new URL, while a pipeline registers jobs and LlamaCloud calls
 * back. Checked: the tunnel state, readiness and audit trail while down; registrations refused
 * with a typed reason, never a localhost URL; `tunnel.up` and `webhook_url.changed` recorded and
 * correlated; on-call notifications and the Prometheus rules' series; and every registration's
 * final callback delivered exactly once, those the parser lost in transit through the worker's
 * early reconciliation after the URL change.
 */
export async function tunnelDrop(size: ScenarioSize): Promise<ScenarioResult> {
  const started = Date.now();
  const plan = pick(
    size,
    { drops: 1, live: 4, inTransit: 6, downMs: 4_000, drainMs: 30_000 },
    { drops: 3, live: 20, inTransit: 40, downMs: 30_000, drainMs: 180_000 },
  );
  const world = await openTunnelWorld(tunnelUrl(0));
  try {
    const changesBefore = await metric(`${world.gateway.url}/metrics`, URL_CHANGES_SERIES);
    const inTransit = new Set<string>();
    const outages: OutageFigures[] = [];
    let restoredAt = 0;
    const readyAfterReturnMs: number[] = [];
    for (let drop = 1; drop <= plan.drops; drop++) {
      // Jobs whose callbacks come back through the live tunnel.
      const live = await issueMany(world, plan.live);
      for (const job of live) world.parser.complete(job.jobId);
      await until(
        () => live.every((job) => world.ledger.finals.has(job.registrationId)),
        20_000,
        'callbacks through the live tunnel delivered',
      );
      // Jobs still running when the session drops: their callbacks will find the URL dead.
      const pending = await issueMany(world, plan.inTransit);
      for (const job of pending) inTransit.add(job.registrationId);

      world.cloud.drop();
      const downFrom = Date.now();
      await until(
        async () => (await tunnelState(world)) !== 'up',
        5_000,
        'the gateway sees the tunnel down',
      );
      const state = await tunnelState(world);
      const metrics = `${world.gateway.url}/metrics`;
      const tunnelDownSignal =
        (await metric(metrics, 'cbgw_tunnel_state', 'state="down"')) +
          (await metric(metrics, 'cbgw_tunnel_state', 'state="reconnecting"')) >
        0;
      const readyz = `${await world.gatewayStatus('/readyz')}/${await world.gatewayStatus('/readyz/ingest')}`;
      const settledBefore = world.parser.callbacks.filter((c) => c.outcome === 'gave-up').length;
      for (const job of pending) world.parser.complete(job.jobId);
      const [attempts] = await Promise.all([
        (async () => [await world.tryRegister(), await world.tryRegister()])(),
        world.parser.callbacksSettled(),
      ]);
      const gaveUp =
        world.parser.callbacks.filter((c) => c.outcome === 'gave-up').length - settledBefore;
      outages.push({ state, tunnelDownSignal, readyz, attempts, gaveUp });
      await sleep(downFrom + plan.downMs - Date.now());

      world.cloud.restore(tunnelUrl(drop));
      restoredAt = Date.now();
      await until(async () => (await tunnelState(world)) === 'up', 90_000, 'the tunnel up again');
      // Ready again with no registration to trigger a resolve (-1: not within 10 s).
      readyAfterReturnMs.push(
        await until(async () => (await world.gatewayStatus('/readyz')) === 200, 10_000).then(
          () => Date.now() - restoredAt,
          () => -1,
        ),
      );
    }
    // The callbacks lost in transit come back with no new registration to help.
    await until(
      () => [...inTransit].every((id) => world.ledger.finals.has(id)),
      plan.drainMs,
      'the callbacks lost in transit recovered',
    ).catch(() => undefined);
    // Jobs registered under the new URL.
    const after = await issueMany(world, plan.live);
    for (const job of after) world.parser.complete(job.jobId);
    await until(
      () => world.issued.every((job) => world.ledger.finals.has(job.registrationId)),
      20_000,
      'every final callback delivered',
    ).catch(() => undefined);
    // Time for a second final callback, if one were coming.
    await sleep(1_500);
    const result = await figures(world, {
      started,
      plan,
      inTransit,
      outages,
      restoredAt,
      readyAfterReturnMs,
      changesBefore,
    });
    recordSecretScan(result.observations, await world.scanSecrets());
    return result;
  } finally {
    await world.close();
  }
}

async function issueMany(world: TunnelWorld, count: number): Promise<IssuedJob[]> {
  const jobs: IssuedJob[] = [];
  for (let i = 0; i < count; i++) jobs.push(await world.issue());
  return jobs;
}

interface Observed {
  started: number;
  plan: { drops: number; live: number; inTransit: number; downMs: number };
  inTransit: Set<string>;
  outages: OutageFigures[];
  restoredAt: number;
  readyAfterReturnMs: number[];
  changesBefore: number;
}

/** The accounting per registration's final callback, and the scenario's own checks. */
async function figures(world: TunnelWorld, seen: Observed): Promise<ScenarioResult> {
  const { ledger, parser } = world;
  const owed = world.issued;
  const gateway = { gatewayUrl: world.gateway.url };
  const dead = await deadLetters(gateway);
  const finals = owed.map((job) => ledger.finals.get(job.registrationId));
  const delivered = finals.filter((entry) => entry !== undefined).length;
  // Not delivered: dead-lettered (the gateway says so), or lost.
  const unresolvedStates: Record<string, number> = {};
  const lostJobs: IssuedJob[] = [];
  let deadLettered = 0;
  for (const job of owed.filter((entry) => !ledger.finals.has(entry.registrationId))) {
    const { status, body } = await gatewayApi<{ state?: string }>(
      gateway,
      'GET',
      `/v1/registrations/${encodeURIComponent(job.registrationId)}`,
    );
    const state = status === 404 ? 'unknown to the gateway' : (body.state ?? `HTTP ${status}`);
    if (state === 'dead_lettered') deadLettered += 1;
    else lostJobs.push(job);
    unresolvedStates[state] = (unresolvedStates[state] ?? 0) + 1;
  }
  // A final the gateway answered 2xx to the parser for, and never delivered.
  const acknowledged = (job: IssuedJob) =>
    parser.callbackAttempts.some(
      (a) => a.jobId === job.jobId && a.status !== undefined && a.status < 300,
    );
  const reachedGateway = (url: string) => url.startsWith(`${world.gateway.url}/`);
  const accounting: Accounting = {
    sent: parser.callbackAttempts.length,
    acknowledged: owed.length,
    delivered,
    deadLettered,
    lost: lostJobs.length,
    acknowledgedThenLost: lostJobs.filter(acknowledged).length,
    duplicates: finals.reduce(
      (sum, entry) => sum + (entry ? entry.receipts - entry.webhookIds.size : 0),
      0,
    ),
    unavailable: parser.callbackAttempts.filter((a) => reachedGateway(a.url) && a.status === 503)
      .length,
    // Attempts that never reached the gateway (ngrok's 404 for a dead URL) or got no answer.
    errors: parser.callbackAttempts.filter((a) => !reachedGateway(a.url) || a.status === undefined)
      .length,
    // Final deliveries for a registration no job was issued for (none expected).
    deliveredUnacknowledged: [...ledger.finals.keys()].filter(
      (id) => !owed.some((job) => job.registrationId === id),
    ).length,
  };
  const reconciled = owed.filter((job) => ledger.finals.get(job.registrationId)?.reconciled);
  const lastReconciledAt = Math.max(
    0,
    ...reconciled.map((job) => ledger.finals.get(job.registrationId)?.firstAt ?? 0),
  );
  const attempts = seen.outages.flatMap((outage) => outage.attempts);
  const audit = await world.audit([
    'tunnel.up',
    'tunnel.down',
    'webhook_url.changed',
    'callback.reconciled',
    'callback.overdue',
  ]);
  const count = (type: AuditEvent['type']) => audit.filter((event) => event.type === type).length;
  const notifications = new Map<string, number>();
  for (const n of world.receiver.received) {
    const type = n.type.replace(/^operational\./, '');
    notifications.set(type, (notifications.get(type) ?? 0) + 1);
  }
  const earlyLine = world.worker.lines.find((line) =>
    line.includes('pending registrations early: the public callback URL is now'),
  );
  return {
    name: 'tunnel drop, new URL',
    load: `${owed.length} parse jobs (LlamaCloud fake), ${seen.inTransit.size} finishing while down`,
    fault: `ngrok session lost ×${seen.plan.drops} for ${seen.plan.downMs / 1000} s, back under a new URL each time`,
    accounting,
    observations: {
      tunnelStateWhileDown: [...new Set(seen.outages.map((o) => o.state))].join('/'),
      tunnelDownSignal: seen.outages.every((o) => o.tunnelDownSignal),
      readyzWhileDown: [...new Set(seen.outages.map((o) => o.readyz))].join(','),
      registrationsWhileDown: attempts.length,
      refusedWhileDown: attempts.filter(
        (a) => a.status === 503 && a.error === 'webhook_url_unavailable',
      ).length,
      issuedWhileDown: attempts.filter((a) => a.status === 201).length,
      refusalReasons: [...new Set(attempts.flatMap((a) => a.reasons))].sort().join(' '),
      nonPublicUrlsIssued: world.callbackUrls.filter(
        (url) => !url.startsWith('https://') || NOT_A_PUBLIC_NAME.test(new URL(url).host),
      ).length,
      callbacksGivenUp: seen.outages.reduce((sum, o) => sum + o.gaveUp, 0),
      auditTunnelDown: count('tunnel.down'),
      auditTunnelUp: count('tunnel.up'),
      auditUrlChanged: count('webhook_url.changed'),
      auditCorrelated: correlated(audit, seen.plan.drops),
      alertsWatchTheseSeries:
        alertExpr('CbgwTunnelDown').includes(TUNNEL_DOWN_SERIES) &&
        alertExpr('CbgwPublicUrlChanged').includes(URL_CHANGES_SERIES),
      urlChangeSignal:
        (await metric(`${world.gateway.url}/metrics`, URL_CHANGES_SERIES)) - seen.changesBefore,
      // The slowest return (-1: one was not ready within 10 s).
      readyAfterReturnMs: seen.readyAfterReturnMs.includes(-1)
        ? -1
        : Math.max(...seen.readyAfterReturnMs),
      notifications: [...notifications].map(([type, n]) => `${type}×${n}`).join(' '),
      notificationsRejected: world.receiver.rejected,
      earlyReconciliation: earlyLine !== undefined,
      // The other early trigger (no gateway heartbeat for a while) must not be what recovered them.
      silenceTriggers: world.worker.lines.filter((line) =>
        line.includes('early: no gateway took callbacks'),
      ).length,
      reconciled: reconciled.length,
      reconciledNotInTransit: reconciled.filter((job) => !seen.inTransit.has(job.registrationId))
        .length,
      inTransitNotReconciled: owed.filter(
        (job) =>
          seen.inTransit.has(job.registrationId) &&
          !ledger.finals.get(job.registrationId)?.reconciled,
      ).length,
      auditReconciled: count('callback.reconciled'),
      auditOverdue: count('callback.overdue'),
      secondFinals: finals.filter((entry) => entry && entry.webhookIds.size > 1).length,
      recoveredMs: lastReconciledAt ? lastReconciledAt - seen.restoredAt : -1,
      deadLetters: dead.size,
      rejectedSignatures: world.pipeline.rejected.length,
    },
    unresolvedStates,
    durationMs: Date.now() - seen.started,
  };
}

/**
 * Each drop's story holds together in the audit trail: the session that went down is the one
 * that came up before (same `tunnel_session_id`, same URL), the next `tunnel.up` is a new session
 * under a new URL, and `webhook_url.changed` names exactly those two URLs.
 */
function correlated(events: readonly AuditEvent[], drops: number): boolean {
  const ups = events.filter((e) => e.type === 'tunnel.up');
  const downs = events.filter((e) => e.type === 'tunnel.down' && e.data.phase === 'lost');
  const changes = events.filter((e) => e.type === 'webhook_url.changed');
  if (ups.length !== drops + 1 || downs.length !== drops || changes.length !== drops) return false;
  for (let k = 0; k < drops; k++) {
    const [before, down, after, change] = [ups[k], downs[k], ups[k + 1], changes[k]];
    if (
      before?.type !== 'tunnel.up' ||
      after?.type !== 'tunnel.up' ||
      down?.type !== 'tunnel.down' ||
      change?.type !== 'webhook_url.changed'
    )
      return false;
    const session = before.correlation.tunnel_session_id;
    if (!session || down.correlation.tunnel_session_id !== session) return false;
    if (after.correlation.tunnel_session_id === session) return false;
    if (down.data.url !== before.data.url || after.data.url === before.data.url) return false;
    if (change.data.old_url !== before.data.url || change.data.new_url !== after.data.url)
      return false;
  }
  return true;
}
