import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyDelivery } from '@callback-gateway/client';
import type { Ledger } from './ledger.js';

/**
 * How a pipeline behaves: `up` answers 200, `down` refuses connections (nothing listens on its
 * port), `hang` reads the request and never answers.
 */
export type PipelineMode = 'up' | 'down' | 'hang';

/**
 * How one path misbehaves while its pipeline is up: `fail` answers 500, `hang` never answers,
 * `huge` answers 500 with a 150 MB body (written as the reader takes it).
 */
export type PathFault = 'fail' | 'hang' | 'huge';

/** A document pipeline on loopback: verifies each delivery and records it in the ledger. */
export interface ChaosPipeline {
  /** `http://127.0.0.1:<port><path>` */
  url(path: string): string;
  readonly mode: PipelineMode;
  setMode(mode: PipelineMode): Promise<void>;
  /** Makes one path misbehave (undefined: behave again). */
  setPathFault(path: string, fault: PathFault | undefined): void;
  /** Requests that arrived, whatever the answer. */
  readonly requests: number;
  /** Deliveries that failed signature verification (must stay 0). */
  readonly rejected: string[];
  close(): Promise<void>;
}

/**
 * Starts a pipeline whose 2xx answers are recorded in `ledger` by `webhook-id`. `secretFor`
 * gives the delivery secret of a path (each registration has its own); `latencyMs` holds each
 * answer back (work in flight when a worker dies). A receipt is recorded when its 200 is sent.
 */
export async function startPipeline(
  ledger: Ledger,
  secretFor: (path: string) => string | undefined,
  options: { latencyMs?: number } = {},
): Promise<ChaosPipeline> {
  let mode: PipelineMode = 'up';
  let requests = 0;
  const rejected: string[] = [];
  const held = new Set<ServerResponse>();
  const faults = new Map<string, PathFault>();
  const handle = (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      requests += 1;
      const path = request.url ?? '/';
      const fault = faults.get(path);
      if (mode === 'hang' || fault === 'hang') {
        held.add(response);
        response.on('close', () => held.delete(response));
        return;
      }
      if (fault === 'fail') {
        response.writeHead(500).end('failing on purpose');
        return;
      }
      if (fault === 'huge') {
        writeHugeError(response);
        return;
      }
      try {
        const delivery = verifyDelivery(
          request.headers,
          Buffer.concat(chunks),
          secretFor(path) ?? 'whsec_missing',
        );
        const answer = () => {
          ledger.recordReceipt(delivery.webhookId, Date.now(), {
            registrationId: delivery.registrationId,
            type: delivery.type,
            reconciled: delivery.reconciled,
          });
          response.writeHead(200).end();
        };
        if (options.latencyMs) setTimeout(answer, options.latencyMs);
        else answer();
      } catch (error) {
        rejected.push(`${path}: ${String(error)}`);
        response.writeHead(400).end();
      }
    });
  };
  let server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const shut = async () => {
    for (const response of held) response.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    get mode() {
      return mode;
    },
    get requests() {
      return requests;
    },
    rejected,
    setPathFault(path, fault) {
      if (fault === undefined) faults.delete(path);
      else faults.set(path, fault);
    },
    async setMode(next) {
      if (next === mode) return;
      if (next === 'down') await shut();
      if (mode === 'down') {
        server = createServer(handle);
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, '127.0.0.1', resolve);
        });
      }
      if (mode === 'hang') for (const response of held) response.destroy();
      mode = next;
    },
    async close() {
      if (mode !== 'down') await shut();
      mode = 'down';
    },
  };
}

const MEGABYTE = Buffer.alloc(1024 * 1024, 'x');

/** A 500 whose body is 150 MB, written as fast as the reader takes it. */
function writeHugeError(response: ServerResponse): void {
  response.writeHead(500, { 'content-type': 'text/plain' });
  response.on('error', () => undefined);
  let sent = 0;
  const write = () => {
    while (sent < 150) {
      sent++;
      if (!response.write(MEGABYTE)) {
        response.once('drain', write);
        return;
      }
    }
    response.end();
  };
  write();
}
