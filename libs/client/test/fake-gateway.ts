import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the fake gateway received. */
export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A canned answer: status, body (JSON unless a string), headers; or `'hang'` to never answer. */
export type FakeReply =
  { status: number; body?: unknown; headers?: Record<string, string> } | 'hang' | undefined;

/** A real HTTP server on loopback speaking the gateway's registration wire format. */
export interface FakeGateway {
  baseUrl: string;
  token: string;
  requests: RecordedRequest[];
  /** Answers the next requests with `reply` instead of the default routes (`undefined`: routes). */
  override(reply: (request: RecordedRequest) => FakeReply): void;
  close(): Promise<void>;
}

const T0 = '2026-01-01T00:00:00.000Z';

/** A registration as the gateway stores it, in wire format (snake_case). */
function storedRegistration(id: string, body: Record<string, unknown>): Record<string, unknown> {
  return {
    id,
    state: 'waiting',
    source: body['source'] ?? 'llamaparse',
    deliver_to: body['deliver_to'],
    parse_job_id: body['parse_job_id'] ?? null,
    metadata: body['metadata'] ?? null,
    created_at: T0,
    expires_at: '2026-01-02T00:00:00.000Z',
    expect_callback_by: '2026-01-01T01:00:00.000Z',
  };
}

/** The 201 answer of `POST /v1/registrations` for a stored registration. */
export function createdReply(stored: Record<string, unknown>): Record<string, unknown> {
  return {
    id: stored['id'],
    callback_url: `https://public.example/v1/callbacks/${String(stored['id'])}`,
    signing_secret: 'sig_llamaparse_secret',
    delivery_secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    expires_at: stored['expires_at'],
    expect_callback_by: stored['expect_callback_by'],
    created_at: stored['created_at'],
    state: stored['state'],
    source: stored['source'],
    deliver_to: stored['deliver_to'],
    parse_job_id: stored['parse_job_id'],
    callback_url_source: 'cloud_config',
  };
}

/** The registration view (`GET`/`PATCH`) for a stored registration. */
export function viewReply(stored: Record<string, unknown>): Record<string, unknown> {
  return {
    ...stored,
    callbacks_received: 1,
    last_callback_at: '2026-01-01T00:05:00.000Z',
    callbacks: [
      {
        id: 'cb_1',
        received_at: '2026-01-01T00:05:00.000Z',
        format: 'event',
        event_type: 'parse.success',
        event_id: 'evt_1',
      },
    ],
    deliveries: [
      {
        id: 'dl_1',
        state: 'delivered',
        attempts: 2,
        last_status: 200,
        last_error: null,
        delivered_at: '2026-01-01T00:05:03.000Z',
        next_attempt_at: null,
      },
    ],
  };
}

/** Starts the fake on `127.0.0.1:0`. Close it in `afterEach`. */
export async function startFakeGateway(token = 'tok_fake_gateway_9f8e7d'): Promise<FakeGateway> {
  const requests: RecordedRequest[] = [];
  const registrations = new Map<string, Record<string, unknown>>();
  let overrideReply: ((request: RecordedRequest) => FakeReply) | undefined;

  function routes(request: RecordedRequest): FakeReply {
    if (request.headers.authorization !== `Bearer ${token}`) {
      return { status: 401, body: { error: 'unauthorized', message: 'Bearer token required.' } };
    }
    const body = request.body ? (JSON.parse(request.body) as Record<string, unknown>) : {};
    const match = /^\/v1\/registrations\/([^/]+)$/.exec(request.url);
    if (request.method === 'POST' && request.url === '/v1/registrations') {
      if (typeof body['deliver_to'] !== 'string') {
        return {
          status: 400,
          body: {
            error: 'invalid_request',
            message: 'deliver_to is required.',
            issues: [{ path: ['deliver_to'], message: 'Required' }],
          },
        };
      }
      const stored = storedRegistration(`reg_${registrations.size + 1}`, body);
      registrations.set(stored['id'] as string, stored);
      return { status: 201, body: createdReply(stored) };
    }
    const stored = match ? registrations.get(decodeURIComponent(match[1] as string)) : undefined;
    if (!stored) return { status: 404, body: { error: 'not_found', message: 'No such thing.' } };
    if (request.method === 'PATCH') stored['parse_job_id'] = body['parse_job_id'];
    return { status: 200, body: viewReply(stored) };
  }

  function answer(res: ServerResponse, reply: Exclude<FakeReply, 'hang' | undefined>): void {
    const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body ?? {});
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
    res.end(text);
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(request);
      const reply = overrideReply?.(request) ?? routes(request);
      if (reply === 'hang' || reply === undefined) return;
      answer(res, reply);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    token,
    requests,
    override(reply) {
      overrideReply = reply;
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}
