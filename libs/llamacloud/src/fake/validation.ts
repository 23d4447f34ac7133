import { isIP } from 'node:net';
import { z } from 'zod';

/**
 * The fake's checks of what clients submit, with LlamaCloud's documented rules. A refusal is the
 * `{"detail": ...}` body with its status: 400 with a sentence for rule violations, 422 with
 * FastAPI's list of issues for wrongly typed fields.
 */
export interface Refusal {
  status: 400 | 422;
  detail: unknown;
}

/** LlamaCloud's stated limit: the whole webhook URL must be under 200 characters. */
export const MAX_WEBHOOK_URL_LENGTH = 199;

/**
 * Checks a webhook URL against LlamaCloud's stated rules: https, a domain name (not an IP),
 * under 200 characters. Returns why not, or undefined when it passes. Whether localhost or
 * private names are refused is not documented, so they pass.
 */
export function checkWebhookUrl(url: string, field = 'webhook_url'): string | undefined {
  if (url.length > MAX_WEBHOOK_URL_LENGTH) {
    return `Invalid ${field}: the URL must be under 200 characters (got ${url.length}).`;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `Invalid ${field}: ${JSON.stringify(url)} is not a valid URL.`;
  }
  if (parsed.protocol !== 'https:') {
    return `Invalid ${field}: the URL must use https (got ${parsed.protocol.slice(0, -1)}).`;
  }
  if (isIP(parsed.hostname.replace(/^\[|\]$/g, '')) !== 0) {
    return `Invalid ${field}: the host must be a domain name, not an IP address.`;
  }
  return undefined;
}

const webhookConfigurationSchema = z.looseObject({
  webhook_url: z.string(),
  webhook_signing_secret: z.string().nullish(),
  webhook_events: z.array(z.string()).nullish(),
  webhook_headers: z.record(z.string(), z.string()).nullish(),
  webhook_output_format: z.enum(['string', 'json']).nullish(),
});

/** The v2 parse configuration: the JSON body of `POST /api/v2/parse`, or `configuration`. */
export const parseConfigurationSchema = z.looseObject({
  file_id: z.string().nullish(),
  source_url: z.string().nullish(),
  tier: z.string().nullish(),
  version: z.string().nullish(),
  webhook_configurations: z.array(webhookConfigurationSchema).nullish(),
});
export type ParseConfiguration = z.output<typeof parseConfigurationSchema>;

/** Parses a v2 configuration, or says why not in FastAPI's 422 format. */
export function parseConfiguration(
  value: unknown,
  where: 'body' | 'configuration',
): { ok: true; configuration: ParseConfiguration } | { ok: false; refusal: Refusal } {
  const parsed = parseConfigurationSchema.safeParse(value);
  if (parsed.success) {
    const refusal = checkWebhooks(parsed.data);
    return refusal ? { ok: false, refusal } : { ok: true, configuration: parsed.data };
  }
  return {
    ok: false,
    refusal: {
      status: 422,
      detail: parsed.error.issues.map((issue) => ({
        type: issue.code,
        loc: [where, ...issue.path.map((key) => (typeof key === 'symbol' ? String(key) : key))],
        msg: issue.message,
      })),
    },
  };
}

function checkWebhooks(configuration: ParseConfiguration): Refusal | undefined {
  for (const [index, webhook] of (configuration.webhook_configurations ?? []).entries()) {
    const why = checkWebhookUrl(
      webhook.webhook_url,
      `webhook_configurations[${index}].webhook_url`,
    );
    if (why) return { status: 400, detail: why };
  }
  return undefined;
}
