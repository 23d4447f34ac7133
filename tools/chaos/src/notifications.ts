import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One operational notification, verified. */
export interface Notification {
  /** `operational.<condition>.<opened|recovered|fact>` */
  type: string;
  /** The notifying process (`gateway`, `worker`). */
  source: string;
  details: Record<string, unknown>;
  at: number;
}

/** An on-call webhook receiver on loopback (what `NOTIFY_WEBHOOK_URLS` points at). */
export interface NotificationReceiver {
  url: string;
  /** `NOTIFY_WEBHOOK_SECRET` */
  secret: string;
  readonly received: Notification[];
  /** Notifications whose Standard Webhooks signature did not verify (must stay 0). */
  readonly rejected: number;
  close(): Promise<void>;
}

/** Starts the receiver; every notification is verified with its own secret. */
export async function startNotificationReceiver(): Promise<NotificationReceiver> {
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  const verifier = new Webhook(secret);
  const received: Notification[] = [];
  let rejected = 0;
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.headers)) {
        if (typeof value === 'string') headers[name] = value;
      }
      try {
        const body = verifier.verify(Buffer.concat(chunks).toString('utf8'), headers) as {
          type?: unknown;
          source?: unknown;
          details?: unknown;
        };
        received.push({
          type: String(body.type),
          source: String(body.source),
          details: (body.details ?? {}) as Record<string, unknown>,
          at: Date.now(),
        });
        response.writeHead(204).end();
      } catch {
        rejected += 1;
        response.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/ops`,
    secret,
    received,
    get rejected() {
      return rejected;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
