import { randomBytes } from 'node:crypto';
import { type ParseApi, type Registration, type RegistrationStore } from './registrations.js';

/** What a pipeline (or a parse submission) asks for. */
export interface RegistrationRequest {
  source: string;
  deliverTo: string;
  parseJobId?: string | undefined;
  /** The LlamaCloud API of `parseJobId`, when known. */
  parseApi?: ParseApi | undefined;
  metadata?: Record<string, unknown> | undefined;
  /** Seconds from now until the final callback is expected. */
  expectCallbackWithinSeconds: number;
  /** A Standard Webhooks secret the pipeline brings; generated when absent. */
  deliverySecret?: string | undefined;
  requireSignature: boolean;
  /** Who asks (audit actor id). */
  apiClient: string;
}

/** A verified public base URL (from `@callback-gateway/webhook-url`). */
export interface IssuingBase {
  baseUrl: string;
  source: string;
}

/** A stored registration and the one-time token of its callback URL. */
export interface IssuedRegistration {
  registration: Registration;
  /** The callback URL's secret part: shown once, stored only as a hash. */
  token: string;
}

/**
 * Creates a registration under a verified public base URL: a fresh 256-bit token, a signing
 * secret for the parser's `LC-Signature`, a delivery secret (given or generated), and expiry
 * times. The gateway's API and the worker's parse submissions both issue through this.
 */
export async function issueRegistration(
  store: RegistrationStore,
  request: RegistrationRequest,
  base: IssuingBase,
  options: { registrationTtlSeconds: number; now: Date },
): Promise<IssuedRegistration> {
  const now = options.now;
  const expectBy = new Date(now.getTime() + request.expectCallbackWithinSeconds * 1000);
  // The URL stays valid at least a day past the deadline: late callbacks still count.
  const ttl = Math.max(
    options.registrationTtlSeconds,
    request.expectCallbackWithinSeconds + 86_400,
  );
  const token = store.newToken();
  const registration = await store.create(
    {
      source: request.source,
      deliverTo: request.deliverTo,
      parseJobId: request.parseJobId,
      parseApi: request.parseApi,
      metadata: request.metadata,
      signingSecret: randomBytes(32).toString('base64url'),
      deliverySecret: request.deliverySecret ?? `whsec_${randomBytes(32).toString('base64')}`,
      requireSignature: request.requireSignature,
      callbackBaseUrl: base.baseUrl,
      callbackUrlSource: base.source,
      apiClient: request.apiClient,
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + ttl * 1000).toISOString(),
      expectCallbackBy: expectBy.toISOString(),
    },
    token,
  );
  return { registration, token };
}
