import { describe, expect, it } from 'vitest';
import { checkParseTier, checkParseVersion, isKnownParseTier } from './parse-options.js';

describe('parse tiers and versions', () => {
  it.each(['fast', 'cost_effective', 'agentic', 'agentic_plus'])('knows the tier %s', (tier) => {
    expect(isKnownParseTier(tier)).toBe(true);
    expect(checkParseTier(tier)).toBeUndefined();
  });

  it('lets a well-formed tier it does not know through, as the SDK does', () => {
    expect(isKnownParseTier('agentic_max')).toBe(false);
    expect(checkParseTier('agentic_max')).toBeUndefined();
  });

  it.each(['', 'Agentic', 'cost-effective', 'fast ', '_fast', 'a'.repeat(51)])(
    'refuses the tier %j, naming the known ones',
    (tier) => {
      expect(checkParseTier(tier)).toMatch(/fast, cost_effective, agentic, agentic_plus/);
    },
  );

  it.each(['latest', '2026-08-19', '2.0'])('takes the version %s', (version) => {
    expect(checkParseVersion(version)).toBeUndefined();
  });

  it.each(['', ' latest', 'v 1', '-1', 'x'.repeat(51)])('refuses the version %j', (version) => {
    expect(checkParseVersion(version)).toMatch(/latest, or a dated version/);
  });
});
