import { Transform } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest, RequestPayload } from 'fastify';
import { CallbackDecodeError, decodeCallback } from '../callbacks/decode.js';
import { createInflightBudget, type BodyHold } from '../callbacks/inflight-budget.js';
import type { CallbackTarget } from '../callbacks/registration-cache.js';
import { createRejectionAudit } from '../callbacks/rejection-audit.js';
import { verifyLcSignature } from '../callbacks/signature.js';
import { NotReplicatedError } from '@callback-gateway/store';
import { GatewayHttpError, notReplicated, storageUnavailable } from '../errors.js';
import { eventTypeLabel } from '../metrics.js';
import type { GatewayContext } from '../context.js';

const hasBom = (raw: Buffer) => raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf;

const notFound = (headers: Record<string, string> = {}) =>
  new GatewayHttpError('not_found', 'unknown or expired callback URL', {}, headers);

/** Seconds a sender is told to wait after `intake_busy`. */
const INTAKE_BUSY_RETRY_AFTER_S = 1;
/** The "intake full" log line is written at most this often. */
const BUSY_LOG_EVERY_MS = 60_000;

/** A callback whose token was found and whose body may come in. */
interface Admitted {
  target: CallbackTarget;
  hold: BodyHold;
}

/**
 * `POST /v1/callbacks/llamaparse/:token`: what the external parser calls. The token
 * authenticates, and is looked up before the body is read: an unknown one is answered `404` at
 * once and its body never taken in. A known one holds its body's bytes in the in-flight budget
 * (`503 intake_busy` beyond it). `202` is sent only once the callback is stored and queued in
 * Redis (the intake's group commit). Its `callback.received` audit record is written by the
 * worker when it takes the callback from the ingest stream, with the time it was received here.
 */
export async function callbackRoutes(app: FastifyInstance, context: GatewayContext) {
  const { audit, metrics, callbackTargets, intake, logger } = context;
  const { bodyLimitBytes, callbackInflightBytes } = context.settings;

  // This plugin takes every body as raw bytes (signatures are over the exact bytes, and the
  // decoder decides what is JSON), up to the configured limit (413 beyond it).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    '*',
    { parseAs: 'buffer', bodyLimit: bodyLimitBytes },
    (_request, body, done) => done(null, body),
  );
  // A callback without a media type is JSON (the decoder says so). Fastify reads a missing
  // Content-Type with the parser above, but answers an empty one 415 before any handler: an
  // empty header is dropped, so both reach the decoder alike.
  app.addHook('onRequest', (request, _reply, done) => {
    if (request.headers['content-type']?.trim() === '') delete request.headers['content-type'];
    done();
  });

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

  const countRejected = (started: number, error: GatewayHttpError) => {
    metrics.rejections.inc({ reason: error.error });
    context.history.rejected(error.error);
    count('unknown', 'none', 'rejected');
    ackRejected.observe((performance.now() - started) / 1000);
  };

  const actor = { kind: 'parser', id: context.callbackSource } as const;
  // Anyone may post to a callback URL: refusals that name no registration go to the audit trail
  // a few records per sender address, with their count (each is in the metrics).
  const anonymousRejections = createRejectionAudit({ audit, actor, logger });
  app.addHook('onClose', (_instance, done) => {
    anonymousRejections.close();
    done();
  });

  const reject = (
    reply: FastifyReply,
    started: number,
    error: GatewayHttpError,
    registrationId?: string,
  ): FastifyReply => {
    countRejected(started, error);
    const rejection = { code: error.error, status: error.status, reason: error.message };
    // Neither is about the callback: Redis away (the audit trail cannot be written either), or
    // load shed before the body was read.
    const audited = error.error !== 'storage_unavailable' && error.error !== 'intake_busy';
    if (audited && registrationId === undefined) {
      anonymousRejections.note(reply.request.ip, rejection);
    } else if (audited) {
      audit.record({
        type: 'callback.rejected',
        actor,
        correlation: { registration_id: registrationId },
        data: rejection,
      });
    }
    return reply.code(error.status).headers(error.headers).send(error.body());
  };

  const budget = createInflightBudget({
    limitBytes: callbackInflightBytes,
    onChange: (heldBytes) => metrics.callbackInflightBytes.set(heldBytes),
  });
  metrics.callbackInflightBytes.set(0);
  metrics.callbackInflightLimitBytes.set(callbackInflightBytes);
  let lastBusyLogAt = Number.NEGATIVE_INFINITY;
  let busySinceLog = 0;
  const intakeBusy = (headers: Record<string, string> = {}) => {
    busySinceLog++;
    const now = context.now().getTime();
    if (now - lastBusyLogAt >= BUSY_LOG_EVERY_MS) {
      logger.warn(
        { heldBytes: budget.heldBytes, limitBytes: budget.limitBytes, refused: busySinceLog },
        `callback intake full: ${budget.heldBytes} of ${budget.limitBytes} bytes of callback bodies held (GATEWAY_CALLBACK_INFLIGHT_BYTES); answering 503 intake_busy with Retry-After (${busySinceLog} refused since the last such line)`,
      );
      lastBusyLogAt = now;
      busySinceLog = 0;
    }
    return new GatewayHttpError(
      'intake_busy',
      `the gateway holds as many callback bytes as it may at once (GATEWAY_CALLBACK_INFLIGHT_BYTES): nothing was stored; retry after ${INTAKE_BUSY_RETRY_AFTER_S} s`,
      {},
      { 'retry-after': String(INTAKE_BUSY_RETRY_AFTER_S), ...headers },
    );
  };

  const admitted = new WeakMap<FastifyRequest, Admitted>();

  /** Runs once the headers are in, before any of the body is read. */
  const admit = async (
    request: FastifyRequest<{ Params: { token: string } }>,
    reply: FastifyReply,
  ) => {
    const started = performance.now();
    let target;
    try {
      target = await callbackTargets.find(request.params.token);
    } catch {
      metrics.storageUnavailable.inc({ route: 'callback' });
      return reject(reply, started, storageUnavailable());
    }
    // The connection is closed after the answer: the body of an unknown token is never read
    // (Node would otherwise read it to the end to keep the connection).
    if (!target) return reject(reply, started, notFound({ connection: 'close' }));
    // The sender hung up during the lookup: there is no body to hold.
    if (reply.raw.destroyed) return;
    const hold = budget.open();
    // Answered, failed or cut off: the response closes in every case.
    reply.raw.once('close', () => hold.release());
    const declared = request.headers['content-length'];
    // A body over the limit holds nothing: it is refused with 413 before it is read.
    if (
      declared !== undefined &&
      Number(declared) <= bodyLimitBytes &&
      !hold.add(Number(declared))
    ) {
      return reject(reply, started, intakeBusy(), target.id);
    }
    admitted.set(request, { target, hold });
  };

  /** A body without a declared length (chunked) holds its bytes as they arrive. */
  const holdStreamed = (
    request: FastifyRequest,
    _reply: FastifyReply,
    payload: RequestPayload,
    done: (error: Error | null, stream?: RequestPayload) => void,
  ) => {
    const entry = admitted.get(request);
    if (!entry || request.headers['content-length'] !== undefined) return done(null, payload);
    const started = performance.now();
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, next) {
        if (entry.hold.add(chunk.length)) return next(null, chunk);
        // Reading stops here: the connection is closed after the answer.
        const error = intakeBusy({ connection: 'close' });
        countRejected(started, error);
        next(error);
      },
    });
    payload.on('error', (error: Error) => counted.destroy(error));
    done(null, payload.pipe(counted));
  };

  app.post<{ Params: { token: string } }>(
    '/v1/callbacks/llamaparse/:token',
    { schema: { hide: true }, onRequest: admit, preParsing: holdStreamed },
    async (request, reply) => {
      const started = performance.now();
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const registration = admitted.get(request)?.target;
      // Set by `admit` for every request that gets here.
      if (!registration) throw new Error('a callback reached its handler without a registration');

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
      } catch (error) {
        if (error instanceof NotReplicatedError) {
          return reject(reply, started, notReplicated(error.message), registration.id);
        }
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
        context.history.count('duplicate');
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
      context.history.count('received');
      ackStored.observe(seconds);
      // The id is [a-z0-9_]: the answer needs no serializer.
      return reply
        .code(202)
        .type('application/json; charset=utf-8')
        .send(`{"accepted":true,"callback_id":"${result.callbackId}"}`);
    },
  );
}
