import type { FastifyInstance, FastifyReply } from 'fastify';
import { CallbackDecodeError, decodeCallback } from '../callbacks/decode.js';
import { verifyLcSignature } from '../callbacks/signature.js';
import { GatewayHttpError, storageUnavailable } from '../errors.js';
import { eventTypeLabel } from '../metrics.js';
import type { GatewayContext } from '../context.js';

const hasBom = (raw: Buffer) => raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf;

const notFound = () => new GatewayHttpError('not_found', 'unknown or expired callback URL');

/**
 * `POST /v1/callbacks/llamaparse/:token`: what the external parser calls. The token
 * authenticates; `202` is sent only once the callback is stored and queued in Redis (the
 * intake's group commit). Its `callback.received` audit record is written by the worker when
 * it takes the callback from the ingest stream, with the time it was received here.
 */
export async function callbackRoutes(app: FastifyInstance, context: GatewayContext) {
  const { audit, metrics, callbackTargets, intake } = context;

  // This plugin takes every body as raw bytes (signatures are over the exact bytes, and the
  // decoder decides what is JSON), up to the configured limit (413 beyond it).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    '*',
    { parseAs: 'buffer', bodyLimit: context.settings.bodyLimitBytes },
    (_request, body, done) => done(null, body),
  );

  // Metric children by label values, looked up once (a callback costs no label hashing).
  const counted = new Map<string, { inc(): void }>();
  const count = (format: string, eventType: string, outcome: string) => {
    const key = `${format}\n${eventType}\n${outcome}`;
    let child = counted.get(key);
    if (!child) {
      child = metrics.callbacks.labels({ format, event_type: eventType, outcome });
      counted.set(key, child);
    }
    child.inc();
  };
  const ackStored = metrics.ackDuration.labels({ outcome: 'stored' });
  const ackDuplicate = metrics.ackDuration.labels({ outcome: 'duplicate' });
  const ackRejected = metrics.ackDuration.labels({ outcome: 'rejected' });

  const reject = (
    reply: FastifyReply,
    started: number,
    error: GatewayHttpError,
    registrationId?: string,
  ): FastifyReply => {
    metrics.rejections.inc({ reason: error.error });
    count('unknown', 'none', 'rejected');
    ackRejected.observe((performance.now() - started) / 1000);
    if (error.error !== 'storage_unavailable') {
      audit.record({
        type: 'callback.rejected',
        actor: { kind: 'parser', id: context.callbackSource },
        correlation: registrationId ? { registration_id: registrationId } : {},
        data: { code: error.error, status: error.status, reason: error.message },
      });
    }
    return reply.code(error.status).headers(error.headers).send(error.body());
  };

  app.post<{ Params: { token: string } }>(
    '/v1/callbacks/llamaparse/:token',
    { schema: { hide: true } },
    async (request, reply) => {
      const started = performance.now();
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);

      let registration;
      try {
        registration = await callbackTargets.find(request.params.token);
      } catch {
        metrics.storageUnavailable.inc({ route: 'callback' });
        return reject(reply, started, storageUnavailable());
      }
      if (!registration) return reject(reply, started, notFound());

      const header = request.headers['lc-signature'];
      const signatureHeader = Array.isArray(header) ? header[0] : header;
      let signature: 'verified' | 'absent' | 'not_configured' = 'absent';
      if (signatureHeader !== undefined) {
        if (!verifyLcSignature(signatureHeader, raw, registration.signingSecret)) {
          return reject(
            reply,
            started,
            new GatewayHttpError(
              'bad_signature',
              'LC-Signature does not match the body (HMAC-SHA256 with the signing secret of this registration)',
            ),
            registration.id,
          );
        }
        signature = 'verified';
      } else if (registration.requireSignature) {
        return reject(
          reply,
          started,
          new GatewayHttpError(
            'bad_signature',
            'this registration requires an LC-Signature header (set webhook_signing_secret on the parse job)',
          ),
          registration.id,
        );
      }

      let decoded;
      try {
        decoded = decodeCallback(raw, request.headers['content-type']);
      } catch (error) {
        if (!(error instanceof CallbackDecodeError)) throw error;
        return reject(
          reply,
          started,
          new GatewayHttpError(
            error.status === 415 ? 'unsupported_media_type' : 'malformed_callback',
            error.message,
          ),
          registration.id,
        );
      }

      let result;
      try {
        result = await intake.store({
          registrationId: registration.id,
          tokenHash: registration.tokenHash,
          format: decoded.format,
          // The request's bytes when they are the payload's text (no BOM to drop): Redis gets
          // them as they are, with no re-encoding per callback.
          payloadJson: decoded.stringEncoded || hasBom(raw) ? decoded.payloadJson : raw,
          contentType: request.headers['content-type'] ?? 'application/json',
          receivedAt: context.now().toISOString(),
          bytes: raw.length,
          dedupKey: decoded.dedupKey,
          eventType: decoded.eventType,
          eventId: decoded.eventId,
          jobId: decoded.jobId,
          stringEncoded: decoded.stringEncoded,
          signature,
          final: decoded.final,
        });
      } catch {
        metrics.storageUnavailable.inc({ route: 'callback' });
        return reject(reply, started, storageUnavailable(), registration.id);
      }

      const seconds = (performance.now() - started) / 1000;
      if (result.outcome === 'registration_gone') {
        callbackTargets.forget(registration.tokenHash);
        return reject(reply, started, notFound());
      }
      const eventType = eventTypeLabel(decoded.eventType);
      if (result.outcome === 'duplicate') {
        count(decoded.format, eventType, 'duplicate');
        ackDuplicate.observe(seconds);
        audit.record({
          type: 'callback.duplicate',
          actor: { kind: 'parser', id: context.callbackSource },
          correlation: { registration_id: registration.id, callback_id: result.callbackId },
          data: {
            dedup_key: decoded.dedupKey.slice(0, 300),
            ...(decoded.eventId !== undefined && { event_id: decoded.eventId }),
          },
        });
        return reply.code(200).send({ duplicate: true, callback_id: result.callbackId });
      }
      count(decoded.format, eventType, 'stored');
      ackStored.observe(seconds);
      // The id is [a-z0-9_]: the answer needs no serializer.
      return reply
        .code(202)
        .type('application/json; charset=utf-8')
        .send(`{"accepted":true,"callback_id":"${result.callbackId}"}`);
    },
  );
}
