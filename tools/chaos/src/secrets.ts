import { Redis } from 'ioredis';

/**
 * The secrets a scenario handed out or configured: API tokens, signing and delivery secrets,
 * callback tokens, the ngrok authtoken, the LlamaCloud key, the notification secret. None may
 * appear in any log line or audit record of the run (`scanForSecrets`).
 */
export class SecretSet {
  private readonly values = new Map<string, string>();

  /** Remembers `value` under a label saying what it is (values under 8 characters are not
   * secrets worth the name, and would match ordinary text). */
  add(label: string, value: string | undefined): void {
    if (value && value.length >= 8) this.values.set(value, label);
  }

  /** Remembers a registration's secrets: its delivery and signing secrets, and the token that
   * ends its callback URL (or path). */
  addRegistration(registration: {
    deliverySecret: string;
    signingSecret: string;
    callback: string;
  }): void {
    this.add('delivery secret', registration.deliverySecret);
    this.add('signing secret', registration.signingSecret);
    this.add('callback token', registration.callback.split('/').pop());
  }

  /** The labels of the secrets that occur in `texts` (each counted once). */
  foundIn(texts: Iterable<string>): string[] {
    const found = new Set<string>();
    for (const text of texts) {
      for (const [value, label] of this.values) if (text.includes(value)) found.add(label);
    }
    return [...found];
  }

  get size(): number {
    return this.values.size;
  }
}

/** Every audit record in Redis (the main stream and every registration's), as JSON text. */
export async function auditRecords(redisUrl: string): Promise<string[]> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    const records: string[] = [];
    const streams = ['{cbgw}:audit:events', ...(await redis.keys('{cbgw}:audit:reg:*'))];
    for (const key of streams) {
      let from = '-';
      for (;;) {
        const page = await redis.xrange(key, from, '+', 'COUNT', 1_000);
        for (const [, fields] of page) records.push(fields.join(' '));
        if (page.length < 1_000) break;
        from = `(${page[page.length - 1]?.[0] ?? ''}`;
      }
    }
    return records;
  } finally {
    redis.disconnect();
  }
}

/** What a scan of a run's output found: how much was read, and which secrets showed up. */
export interface SecretScan {
  linesScanned: number;
  recordsScanned: number;
  secretsKnown: number;
  /** Labels of the secrets found (must be empty). */
  found: string[];
}

/** Scans log lines and the audit trail for every known secret. */
export async function scanForSecrets(
  secrets: SecretSet,
  lines: readonly string[],
  redisUrl: string,
): Promise<SecretScan> {
  const records = await auditRecords(redisUrl);
  return {
    linesScanned: lines.length,
    recordsScanned: records.length,
    secretsKnown: secrets.size,
    found: secrets.foundIn([...lines, ...records]),
  };
}

/** Puts a scan's figures into a scenario's observations (`secretsFound` must be 0). */
export function recordSecretScan(observations: Record<string, unknown>, scan: SecretScan): void {
  observations['linesScanned'] = scan.linesScanned;
  observations['auditRecordsScanned'] = scan.recordsScanned;
  observations['secretsFound'] = scan.found.length;
  if (scan.found.length > 0) observations['secretsFoundKinds'] = scan.found.join(', ');
}
