import { isIP, type LookupFunction } from 'node:net';
import { Agent, buildConnector } from 'undici';
import type { OutboundPolicy } from './policy.js';

/**
 * A `net.LookupFunction` that resolves through the policy: a connection can only be opened to
 * an allowed address, whatever the name resolved to when the destination was first checked
 * (DNS rebinding between check and connect is refused here).
 */
export function guardedLookup(policy: OutboundPolicy, port?: number): LookupFunction {
  return (hostname, options, callback) => {
    policy.allowedAddresses(hostname, port).then(
      (addresses) => {
        const wanted =
          options.family === 4 || options.family === 6
            ? addresses.filter((entry) => entry.family === options.family)
            : addresses;
        const first = wanted[0];
        if (!first) {
          const error = Object.assign(
            new Error(`${hostname} has no IPv${options.family} address`),
            {
              code: 'ENOTFOUND',
            },
          );
          callback(error, '', 0);
          return;
        }
        if (options.all) {
          (callback as unknown as (e: null, a: typeof wanted) => void)(null, wanted);
        } else {
          callback(null, first.address, first.family);
        }
      },
      (error: Error) => callback(error as NodeJS.ErrnoException, '', 0),
    );
  };
}

/**
 * An undici Agent whose every connection goes through {@link guardedLookup}, with the port it
 * connects to (an `OUTBOUND_ALLOW` entry may allow one port of a host only). IP-literal hosts,
 * connected to without a lookup, are checked with `policy.checkUrl()` before connecting (callers
 * still check first, to fail before a request is built). Redirects are not followed (undici's
 * default), so a 3xx cannot lead elsewhere.
 */
export function createGuardedAgent(policy: OutboundPolicy, options: Agent.Options = {}): Agent {
  const connectOptions = typeof options.connect === 'object' ? options.connect : {};
  const connectors = new Map<number, buildConnector.connector>();
  const connectorFor = (port: number) => {
    let connector = connectors.get(port);
    if (!connector) {
      connector = buildConnector({ ...connectOptions, lookup: guardedLookup(policy, port) });
      connectors.set(port, connector);
    }
    return connector;
  };
  return new Agent({
    ...options,
    connect: (connect, callback) => {
      const port = Number(connect.port) || (connect.protocol === 'https:' ? 443 : 80);
      const literal = connect.hostname.replace(/^\[(.*)\]$/, '$1');
      if (isIP(literal) !== 0) {
        const host = isIP(literal) === 6 ? `[${literal}]` : literal;
        try {
          policy.checkUrl(`${connect.protocol}//${host}:${port}/`);
        } catch (error) {
          callback(error as Error, null);
          return;
        }
      }
      connectorFor(port)(connect, callback);
    },
  });
}
