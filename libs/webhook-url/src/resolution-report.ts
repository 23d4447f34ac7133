import type { AuditLog, Logger } from '@callback-gateway/audit';
import type { WebhookUrlResolveError } from './errors.js';
import type { WebhookUrlMetrics } from './metrics.js';
import type { WebhookUrlResolution } from './resolver-options.js';

/** Where the outcome of a fresh resolution is told. */
export interface ResolutionReportTargets {
  audit: AuditLog;
  logger: Logger;
  metrics: WebhookUrlMetrics;
}

/** Tells of a resolution that gave a URL: metrics, a `webhook_url.resolved` record, a log line. */
export function reportResolved(
  { audit, logger, metrics }: ResolutionReportTargets,
  resolution: WebhookUrlResolution,
  durationMs: number,
): void {
  const { source } = resolution;
  metrics.resolutions.inc({ source, outcome: 'success' });
  metrics.duration.observe({ outcome: 'success' }, durationMs / 1000);
  metrics.insecure.set(resolution.insecure ? 1 : 0);
  audit.record({
    type: 'webhook_url.resolved',
    data: {
      base_url: resolution.baseUrl,
      source,
      verified_by: resolution.verifiedBy,
      insecure: resolution.insecure,
      duration_ms: durationMs,
    },
  });
  logger.info(
    { baseUrl: resolution.baseUrl, source, verifiedBy: resolution.verifiedBy, durationMs },
    `public base URL resolved from ${source}`,
  );
}

/**
 * Tells of a resolution that gave none: metrics, a `webhook_url.refused` record (with why it
 * was needed), an error line.
 */
export function reportRefused(
  { audit, logger, metrics }: ResolutionReportTargets,
  error: WebhookUrlResolveError,
  durationMs: number,
  purpose: string | undefined,
): void {
  metrics.resolutions.inc({ source: 'none', outcome: 'failure' });
  metrics.duration.observe({ outcome: 'failure' }, durationMs / 1000);
  audit.record({
    type: 'webhook_url.refused',
    data: {
      reasons: error.reasons
        .slice(0, 20)
        .map((r) => ({ source: r.source, code: r.code, reason: r.reason.slice(0, 2000) })),
      duration_ms: durationMs,
      ...(purpose ? { purpose } : {}),
    },
  });
  logger.error(
    { code: error.code, reasons: error.reasons },
    `no public base URL: ${error.message}`,
  );
}

/** Warns each time a plain-http URL is handed out: only the development switch allows one. */
export function warnIfInsecure(logger: Logger, resolution: WebhookUrlResolution): void {
  if (!resolution.insecure) return;
  logger.warn(
    { baseUrl: resolution.baseUrl },
    `INSECURE: serving plain-http callback base URL ${resolution.baseUrl} (WEBHOOK_URL_ALLOW_INSECURE_HTTP is on; never use this in production)`,
  );
}
