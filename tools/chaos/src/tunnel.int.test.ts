import { describe, expect, it } from 'vitest';
import { tunnelDrop } from './scenarios-tunnel.js';

// Short size of the tunnel scenario (its own file: it runs beside the other two).
describe('tunnel drop and URL change, short size', () => {
  it('refuses registrations while the tunnel is down, alerts, and delivers every final callback once, the lost ones by early reconciliation', async () => {
    const result = await tunnelDrop('short');
    const seen = result.observations;
    // Zero loss, counted per registration's final callback.
    expect(result.unresolvedStates).toEqual({});
    expect(result.accounting.acknowledged).toBe(14);
    expect(result.accounting.lost).toBe(0);
    expect(result.accounting.acknowledgedThenLost).toBe(0);
    expect(result.accounting.delivered).toBe(result.accounting.acknowledged);
    // No secret (tokens, signing and delivery secrets, ngrok authtoken, LlamaCloud key) in any
    // log line, audit record or notification of the run.
    expect(result.observations['linesScanned']).toBeGreaterThan(0);
    expect(result.observations['secretsFoundKinds']).toBeUndefined();
    expect(result.observations['secretsFound']).toBe(0);
    expect(seen['secondFinals']).toBe(0);
    expect(seen['rejectedSignatures']).toBe(0);
    expect(seen['deadLetters']).toBe(0);

    // State while down: metric, rule series, readiness; registrations refused with a reason.
    expect(seen['tunnelStateWhileDown']).toBe('reconnecting');
    expect(seen['tunnelDownSignal']).toBe(true);
    expect(seen['readyzWhileDown']).toBe('503/200');
    expect(seen['registrationsWhileDown']).toBe(2);
    expect(seen['refusedWhileDown']).toBe(2);
    expect(seen['issuedWhileDown']).toBe(0);
    expect(seen['refusalReasons']).toContain('ngrok:WEBHOOK_URL_TUNNEL_DOWN');
    expect(seen['refusalReasons']).toContain('cache:WEBHOOK_URL_PROBE_FAILED');
    expect(seen['nonPublicUrlsIssued']).toBe(0);

    // Back under a new URL: recorded, correlated, signalled.
    expect(seen['auditTunnelDown']).toBe(1);
    expect(seen['auditTunnelUp']).toBe(2);
    expect(seen['auditUrlChanged']).toBe(1);
    expect(seen['auditCorrelated']).toBe(true);
    expect(seen['urlChangeSignal']).toBe(1);
    expect(seen['alertsWatchTheseSeries']).toBe(true);
    // Ready again, and the lost callbacks recovered, within seconds and with no new registration.
    expect(seen['readyAfterReturnMs']).toBeGreaterThanOrEqual(0);
    expect(seen['readyAfterReturnMs']).toBeLessThan(5_000);
    expect(seen['recoveredMs']).toBeGreaterThanOrEqual(0);
    expect(seen['recoveredMs']).toBeLessThan(10_000);
    expect(String(seen['notifications'])).toMatch(/tunnel_down\.opened×1/);
    expect(String(seen['notifications'])).toMatch(/tunnel_down\.recovered×1/);
    expect(String(seen['notifications'])).toMatch(/public_url_changed\.fact×1/);
    expect(seen['notificationsRejected']).toBe(0);

    // The six callbacks the parser gave up on came back through early reconciliation, and only
    // those: no deadline passed, and no callback that arrived was reconciled as well.
    expect(seen['callbacksGivenUp']).toBe(6);
    expect(seen['earlyReconciliation']).toBe(true);
    expect(seen['silenceTriggers']).toBe(0);
    expect(seen['reconciled']).toBe(6);
    expect(seen['inTransitNotReconciled']).toBe(0);
    expect(seen['reconciledNotInTransit']).toBe(0);
    expect(seen['auditReconciled']).toBe(6);
    expect(seen['auditOverdue']).toBe(0);
  });
});
