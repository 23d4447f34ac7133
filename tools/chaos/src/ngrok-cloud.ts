import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import {
  fakeNgrok,
  ngrokSdkError,
  staticLookup,
  type FakeNgrok,
} from '@callback-gateway/webhook-url/testing';
import type { LookupFunction, NgrokForward } from '@callback-gateway/webhook-url';
import { Agent } from 'undici';

// Where ngrok's edge would be: any public unicast address will do, nothing ever connects to it
// (the dispatcher below routes by host name).
const EDGE_ADDRESS = '93.184.215.14';

/**
 * ngrok's cloud, faked on loopback for a gateway started in-process: the SDK's `forward` (the
 * library's `fakeNgrok` driver), public DNS for tunnel hosts, and ngrok's edge, which forwards a
 * live tunnel host to the gateway and answers `404 ERR_NGROK_3200` ("endpoint offline") for any
 * other, as ngrok does for a URL whose session is gone.
 */
export interface NgrokCloud {
  /** What the gateway takes as `StartGatewayDeps.webhookUrl`. */
  readonly deps: { ngrok: { forward: NgrokForward }; lookup: LookupFunction; dispatcher: Agent };
  /** The SDK double, to see what the gateway asked for. */
  readonly sdk: FakeNgrok;
  /** The tunnel's public URL now; undefined while the session is down. */
  readonly url: string | undefined;
  /** Where the tunnel forwards to (the gateway's port, once it listens). */
  gatewayPort: number;
  /**
   * How a sender on the internet reaches `url`: the gateway's local address while its host is
   * the live tunnel host, else ngrok's "endpoint offline" answer. For the LlamaCloud fake's
   * `rewriteCallbackUrl`.
   */
  route(url: string): string;
  /** The session is lost: the SDK reports `closed`, the URL stops routing, connects fail. */
  drop(): void;
  /** ngrok is reachable again and the SDK reconnects by itself, under `url`. */
  restore(url: string): void;
  close(): Promise<void>;
}

/** Starts the fake cloud with the tunnel URL of the first session. */
export async function startNgrokCloud(firstUrl: string): Promise<NgrokCloud> {
  const sdk = fakeNgrok(firstUrl);
  const hosts = new Set<string>([new URL(firstUrl).host]);
  let current: string | undefined = firstUrl;
  // The edge's answer for a host with no live session.
  const offline: Server = createServer((request, response) => {
    request.resume();
    response
      .writeHead(404, { 'content-type': 'text/plain', 'ngrok-error-code': 'ERR_NGROK_3200' })
      .end(`The endpoint ${request.headers.host ?? ''} is offline.\n\nERR_NGROK_3200\n`);
  });
  await new Promise<void>((resolve) => offline.listen(0, '127.0.0.1', resolve));
  const offlinePort = (offline.address() as AddressInfo).port;
  const live = (host: string) => current !== undefined && new URL(current).host === host;

  const cloud: NgrokCloud = {
    sdk,
    gatewayPort: 0,
    get url() {
      return current;
    },
    deps: {
      ngrok: {
        // A connect while ngrok is unreachable fails as the SDK's does; otherwise it opens a
        // session under the current URL.
        forward: (config) => {
          sdk.next(
            current
              ? { url: current }
              : {
                  error: ngrokSdkError(
                    'failed to connect session: dial tcp: lookup connect.ngrok-agent.com: i/o timeout',
                  ),
                },
          );
          return sdk.forward(config);
        },
      },
      lookup: staticLookup((host) => (hosts.has(host) ? [EDGE_ADDRESS] : [])),
      // TLS ends at ngrok's edge: the tunnel carries plain HTTP to the gateway. No keep-alive:
      // each request is routed afresh, so a dropped URL stops reaching the gateway at once.
      dispatcher: new Agent({
        pipelining: 0,
        connect: (options, callback) => {
          const port = live(options.hostname) ? cloud.gatewayPort : offlinePort;
          const socket = connect(port, '127.0.0.1');
          socket.once('connect', () => callback(null, socket));
          socket.once('error', (error) => callback(error, null));
        },
      }),
    },
    route(url) {
      const parsed = new URL(url);
      const port = live(parsed.host) ? cloud.gatewayPort : offlinePort;
      return `http://127.0.0.1:${port}${parsed.pathname}${parsed.search}`;
    },
    drop() {
      current = undefined;
      sdk.emitStatus('closed');
    },
    restore(url) {
      hosts.add(new URL(url).host);
      current = url;
      sdk.setUrl(url);
      sdk.emitStatus('connected');
    },
    async close() {
      await cloud.deps.dispatcher.close();
      offline.closeAllConnections();
      await new Promise<void>((resolve) => offline.close(() => resolve()));
    },
  };
  return cloud;
}
