/**
 * The dashboard's status banner: the conditions an on-call engineer is paged or ticketed for,
 * with the same thresholds as the Prometheus alerts (`infra/prometheus/rules`). One definition:
 * `status.test.ts` fails when a condition and its alert disagree on a comparison, a window or a
 * severity, or when an alert has no condition here.
 */

/** A comparison an alert's expression makes, and the page makes on the same figure. */
export interface Comparison {
  op: '>' | '>=' | '==';
  value: number;
}

/** What the banner's conditions are judged on (from Redis and this gateway). */
export interface StatusInputs {
  redisReachable: boolean;
  liveWorkers: number;
  liveGateways: number;
  publicUrlVerified: boolean;
  /** The in-process tunnel's state, when there is one. */
  tunnel: string | null;
  breakersOpen: number;
  deadLetters: number;
  overdue: number;
  oldestWaitingSeconds: number;
  /** Delivery attempts in the failure ratio's window (from the history). */
  attemptsOk: number;
  attemptsFailed: number;
  /** Registrations created and callbacks accepted in the no-callbacks window. */
  registeredRecently: number;
  acceptedRecently: number;
  /** The fullest Redis node (of every primary of a cluster): used and max memory (bytes; max
   * 0 when no maxmemory is set). */
  redisMemoryUsed: number;
  redisMemoryMax: number;
}

/** One condition of the banner. */
export interface StatusCondition {
  id: string;
  /** The Prometheus alert that pages or tickets for it. */
  alert: string;
  /** `red` for a `critical` alert, `amber` for a `warning`. */
  level: 'red' | 'amber';
  /** The comparisons of the alert's expression, made here on {@link measure}'s figures. */
  comparisons: readonly Comparison[];
  /** The range of the alert's rates and increases, where the page reads a window too (s). */
  windowSeconds?: number;
  /** The figures compared, one per comparison; `undefined` while they cannot be known. */
  measure: (inputs: StatusInputs) => number[] | undefined;
  /** What the banner says when it holds. */
  describe: (inputs: StatusInputs) => string;
  /** The page section (element id) that shows it. */
  section: string;
}

const whenRedis = (inputs: StatusInputs, figures: number[]) =>
  inputs.redisReachable ? figures : undefined;
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The banner's conditions, most urgent first. */
export const STATUS_CONDITIONS: readonly StatusCondition[] = [
  {
    id: 'redis_unreachable',
    alert: 'CbgwGatewayStorageUnavailable',
    level: 'red',
    comparisons: [{ op: '>', value: 0 }],
    measure: (inputs) => [inputs.redisReachable ? 0 : 1],
    describe: () => 'Redis is unreachable: callbacks are refused with 503',
    section: 'processes',
  },
  {
    id: 'no_live_worker',
    alert: 'CbgwProcessNotScraped',
    level: 'red',
    comparisons: [{ op: '==', value: 0 }],
    measure: (inputs) => whenRedis(inputs, [inputs.liveWorkers]),
    describe: () => 'No live worker: nothing is being delivered',
    section: 'processes',
  },
  {
    id: 'no_live_gateway',
    alert: 'CbgwProcessNotScraped',
    level: 'red',
    comparisons: [{ op: '==', value: 0 }],
    measure: (inputs) => whenRedis(inputs, [inputs.liveGateways]),
    describe: () => 'No live gateway heartbeat: reconciliation treats callbacks as lost',
    section: 'processes',
  },
  {
    id: 'public_url_unavailable',
    alert: 'CbgwPublicCallbackUrlUnavailable',
    level: 'red',
    comparisons: [{ op: '>', value: 0 }],
    measure: (inputs) => [inputs.publicUrlVerified ? 0 : 1],
    describe: () => 'No verified public callback URL: registrations are refused',
    section: 'public-url',
  },
  {
    id: 'tunnel_down',
    alert: 'CbgwTunnelDown',
    level: 'red',
    comparisons: [{ op: '>', value: 0 }],
    measure: (inputs) => [inputs.tunnel === 'down' || inputs.tunnel === 'reconnecting' ? 1 : 0],
    describe: (inputs) => `The ngrok tunnel is ${inputs.tunnel ?? 'down'}`,
    section: 'public-url',
  },
  {
    id: 'oldest_waiting',
    alert: 'CbgwDeliveryQueueStale',
    level: 'red',
    comparisons: [{ op: '>', value: 300 }],
    measure: (inputs) => whenRedis(inputs, [inputs.oldestWaitingSeconds]),
    describe: (inputs) =>
      `The oldest waiting delivery has waited ${Math.round(inputs.oldestWaitingSeconds)} s (over 300 s)`,
    section: 'charts',
  },
  {
    id: 'failure_ratio',
    alert: 'CbgwDeliveryFailureRatioHigh',
    level: 'red',
    comparisons: [
      { op: '>', value: 0.25 },
      { op: '>=', value: 10 },
    ],
    windowSeconds: 600,
    measure: (inputs) => {
      const total = inputs.attemptsOk + inputs.attemptsFailed;
      return whenRedis(inputs, [total === 0 ? 0 : inputs.attemptsFailed / total, total]);
    },
    describe: (inputs) => {
      const total = inputs.attemptsOk + inputs.attemptsFailed;
      return `${Math.round((100 * inputs.attemptsFailed) / Math.max(1, total))} % of ${total} delivery attempts failed in the last 10 min`;
    },
    section: 'destinations',
  },
  {
    id: 'no_callbacks',
    alert: 'CbgwNoCallbacksWhileRegistrationsWaiting',
    level: 'red',
    comparisons: [{ op: '>', value: 0 }],
    windowSeconds: 1_800,
    // The alert: registrations created, unless callbacks were accepted.
    measure: (inputs) =>
      whenRedis(inputs, [inputs.acceptedRecently > 0 ? 0 : inputs.registeredRecently]),
    describe: (inputs) =>
      `${plural(inputs.registeredRecently, 'registration')} in the last 30 min, and not one callback accepted`,
    section: 'charts',
  },
  {
    id: 'breakers_open',
    alert: 'CbgwBreakerOpen',
    level: 'amber',
    comparisons: [{ op: '>', value: 0 }],
    measure: (inputs) => whenRedis(inputs, [inputs.breakersOpen]),
    describe: (inputs) => `${plural(inputs.breakersOpen, 'circuit breaker')} not closed`,
    section: 'destinations',
  },
  {
    id: 'dead_letters',
    alert: 'CbgwDeadLettersGrowing',
    level: 'amber',
    comparisons: [{ op: '>', value: 0 }],
    measure: (inputs) => whenRedis(inputs, [inputs.deadLetters]),
    describe: (inputs) => `${plural(inputs.deadLetters, 'dead letter')} waiting for a replay`,
    section: 'dead-letters',
  },
  {
    id: 'redis_memory',
    alert: 'CbgwRedisMemoryHeadroomLow',
    level: 'amber',
    // A maxmemory set (> 0), and used above 80 % of it.
    comparisons: [
      { op: '>', value: 0 },
      { op: '>', value: 0.8 },
    ],
    measure: (inputs) =>
      whenRedis(inputs, [
        inputs.redisMemoryMax,
        inputs.redisMemoryMax > 0 ? inputs.redisMemoryUsed / inputs.redisMemoryMax : 0,
      ]),
    describe: (inputs) =>
      `Redis uses ${Math.round((100 * inputs.redisMemoryUsed) / inputs.redisMemoryMax)} % of its maxmemory: it refuses writes once full`,
    section: 'processes',
  },
  {
    id: 'overdue',
    alert: 'CbgwCallbacksOverdue',
    level: 'amber',
    comparisons: [{ op: '>', value: 0 }],
    measure: (inputs) => whenRedis(inputs, [inputs.overdue]),
    describe: (inputs) =>
      `${plural(inputs.overdue, 'registration')} past ${inputs.overdue === 1 ? 'its' : 'their'} callback deadline`,
    section: 'overdue',
  },
];

/**
 * Alerts the banner shows under another alert's condition: their own figures are not kept
 * where the page can read them, and what they point at is already on it.
 */
export const ALERTS_SHOWN_UNDER: Readonly<Record<string, string>> = {
  // Held parse submissions wait for the public URL, which the banner already names.
  CbgwParseSubmissionWaitingForUrl: 'public_url_unavailable',
  // A changed URL is a fact, not a state: the public URL section shows the current one.
  CbgwPublicUrlChanged: 'public_url_unavailable',
};

/** The anchor of an alert's runbook entry in docs/operating.md (GitHub's heading slug). */
export const runbookAnchor = (alert: string) => alert.toLowerCase();

const holds = (figure: number, { op, value }: Comparison) =>
  op === '>' ? figure > value : op === '>=' ? figure >= value : figure === value;

/** A condition that holds, as the page shows it. */
export interface ActiveCondition {
  id: string;
  level: 'red' | 'amber';
  message: string;
  alert: string;
  /** Anchor of its runbook entry in docs/operating.md. */
  runbook: string;
  section: string;
}

/** The banner: its colour and every condition that holds. */
export function evaluateStatus(inputs: StatusInputs): {
  level: 'green' | 'amber' | 'red';
  conditions: ActiveCondition[];
} {
  const conditions = STATUS_CONDITIONS.flatMap((condition) => {
    const figures = condition.measure(inputs);
    if (!figures || !condition.comparisons.every((c, i) => holds(figures[i] ?? 0, c))) return [];
    return [
      {
        id: condition.id,
        level: condition.level,
        message: condition.describe(inputs),
        alert: condition.alert,
        runbook: runbookAnchor(condition.alert),
        section: condition.section,
      },
    ];
  });
  const level = conditions.some((c) => c.level === 'red')
    ? 'red'
    : conditions.length > 0
      ? 'amber'
      : 'green';
  return { level, conditions };
}
