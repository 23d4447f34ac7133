import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  ALERTS_SHOWN_UNDER,
  STATUS_CONDITIONS,
  evaluateStatus,
  runbookAnchor,
  type StatusInputs,
} from './status.js';

const root = new URL('../../../../', import.meta.url);
const read = (path: string) => readFileSync(fileURLToPath(new URL(path, root)), 'utf8');

interface Rule {
  alert?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const alerts = (
  parse(read('infra/prometheus/rules/callback-gateway.rules.yml')) as {
    groups: { rules: Rule[] }[];
  }
).groups
  .flatMap((group) => group.rules)
  .filter((rule): rule is Rule & { alert: string } => rule.alert !== undefined);

/** The comparisons of an expression with a number (`> 0.25`, `== 0`), as `op value`. */
const comparisonsOf = (expr: string) =>
  new Set(
    [...expr.matchAll(/(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?)\b/g)].map(
      (m) => `${m[1]} ${Number(m[2])}`,
    ),
  );
const windowsOf = (expr: string) =>
  new Set(
    [...expr.matchAll(/\[(\d+)([smh])\]/g)].map(
      (m) => Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's'],
    ),
  );

describe('the status banner and the Prometheus alerts', () => {
  it.each(STATUS_CONDITIONS.map((condition) => [condition.id, condition] as const))(
    'gives %s the comparisons, window and severity of its alert',
    (_id, condition) => {
      const rule = alerts.find((alert) => alert.alert === condition.alert);
      expect(rule, `alert ${condition.alert}`).toBeDefined();
      expect(new Set(condition.comparisons.map((c) => `${c.op} ${c.value}`))).toEqual(
        comparisonsOf(rule?.expr ?? ''),
      );
      if (condition.windowSeconds !== undefined) {
        expect(windowsOf(rule?.expr ?? '')).toEqual(new Set([condition.windowSeconds]));
      }
      expect(condition.level).toBe(rule?.labels?.['severity'] === 'critical' ? 'red' : 'amber');
    },
  );

  it('has a condition for every alert (or names the condition that shows it)', () => {
    for (const { alert } of alerts) {
      const shown =
        STATUS_CONDITIONS.some((condition) => condition.alert === alert) ||
        STATUS_CONDITIONS.some((condition) => condition.id === ALERTS_SHOWN_UNDER[alert]);
      expect(shown, alert).toBe(true);
    }
  });

  it("links each condition to its alert's runbook entry in docs/operating.md", () => {
    const docs = read('docs/operating.md');
    for (const condition of STATUS_CONDITIONS) {
      const rule = alerts.find((alert) => alert.alert === condition.alert);
      expect(rule?.annotations?.['runbook_url']).toBe(
        `docs/operating.md#${runbookAnchor(condition.alert)}`,
      );
      expect(docs).toContain(`\n### ${condition.alert}\n`);
    }
  });
});

describe('the status banner', () => {
  const healthy: StatusInputs = {
    redisReachable: true,
    liveWorkers: 1,
    liveGateways: 1,
    publicUrlVerified: true,
    tunnel: null,
    breakersOpen: 0,
    deadLetters: 0,
    overdue: 0,
    oldestWaitingSeconds: 3,
    attemptsOk: 100,
    attemptsFailed: 0,
    registeredRecently: 5,
    acceptedRecently: 5,
    redisMemoryUsed: 100,
    redisMemoryMax: 1_000,
  };

  it('is green when nothing holds', () => {
    expect(evaluateStatus(healthy)).toEqual({ level: 'green', conditions: [] });
  });

  it('turns red naming the worker when none is alive', () => {
    const status = evaluateStatus({ ...healthy, liveWorkers: 0 });
    expect(status.level).toBe('red');
    expect(status.conditions.map((c) => c.id)).toEqual(['no_live_worker']);
    expect(status.conditions[0]?.runbook).toBe('cbgwprocessnotscraped');
  });

  it('turns amber for dead letters alone, red once the oldest waiting delivery passes 300 s', () => {
    expect(evaluateStatus({ ...healthy, deadLetters: 2 }).level).toBe('amber');
    expect(evaluateStatus({ ...healthy, oldestWaitingSeconds: 300 }).level).toBe('green');
    expect(evaluateStatus({ ...healthy, oldestWaitingSeconds: 301 }).level).toBe('red');
  });

  it('judges the failure ratio only from 10 attempts on', () => {
    expect(evaluateStatus({ ...healthy, attemptsOk: 0, attemptsFailed: 9 }).level).toBe('green');
    expect(evaluateStatus({ ...healthy, attemptsOk: 7, attemptsFailed: 3 }).level).toBe('red');
  });

  it('turns amber above 80 % of maxmemory, and never without a maxmemory', () => {
    expect(evaluateStatus({ ...healthy, redisMemoryUsed: 800 }).level).toBe('green');
    const full = evaluateStatus({ ...healthy, redisMemoryUsed: 900 });
    expect(full.conditions.map((c) => [c.id, c.message])).toEqual([
      ['redis_memory', 'Redis uses 90 % of its maxmemory: it refuses writes once full'],
    ]);
    expect(evaluateStatus({ ...healthy, redisMemoryUsed: 900, redisMemoryMax: 0 }).level).toBe(
      'green',
    );
  });

  it('names only Redis when Redis is unreachable (what depends on it is unknown)', () => {
    const status = evaluateStatus({ ...healthy, redisReachable: false, liveWorkers: 0 });
    expect(status.conditions.map((c) => c.id)).toEqual(['redis_unreachable']);
  });
});
