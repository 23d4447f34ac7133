import { promises as dns, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { parseAllowEntry } from '@callback-gateway/runtime';
import { classifyAddress } from '@callback-gateway/webhook-url';

/** Stable codes of outbound refusals (documented in the README of this library). */
export const OUTBOUND_ERROR_CODES = [
  'OUTBOUND_INVALID_URL',
  'OUTBOUND_UNSUPPORTED_SCHEME',
  'OUTBOUND_CREDENTIALS_IN_URL',
  'OUTBOUND_PRIVATE_ADDRESS',
  'OUTBOUND_DNS_FAILED',
] as const;
export type OutboundErrorCode = (typeof OUTBOUND_ERROR_CODES)[number];

/** A destination the policy refuses. `httpStatus` is what the gateway answers (400). */
export class OutboundRefusedError extends Error {
  readonly httpStatus = 400;
  constructor(
    readonly code: OutboundErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'OutboundRefusedError';
  }
}

/** Resolves a host name to all its addresses (`dns.promises.lookup` with `all: true`). */
export type LookupAll = (hostname: string) => Promise<LookupAddress[]>;

/** Options for {@link createOutboundPolicy}. */
export interface OutboundPolicyOptions {
  /**
   * Exceptions to the private-address rule (`OUTBOUND_ALLOW`): host names (`pipeline.internal`,
   * `*.corp.example`, `localhost`), IP addresses, or CIDR blocks (`10.0.0.0/8`, `fd00::/8`).
   * @defaultValue none: only public addresses
   */
  allow?: readonly string[];
  /** @defaultValue `dns.promises.lookup(host, { all: true })` */
  lookup?: LookupAll;
}

/** Decides which destinations deliveries may reach. */
export interface OutboundPolicy {
  /** Checks the URL's form and, for an IP literal host, its address. Throws {@link OutboundRefusedError}. */
  checkUrl(url: string): URL;
  /** {@link checkUrl}, then resolves the host and checks every address it resolves to. */
  checkDestination(url: string): Promise<URL>;
  /** Whether a connection to `address` for `host` is allowed (what connect-time checks use). */
  allowsAddress(address: string, host: string, port?: number): boolean;
  /** Resolves `host` and returns only the allowed addresses; throws when none is allowed. */
  allowedAddresses(host: string, port?: number): Promise<LookupAddress[]>;
}

const ALLOW_HINT =
  'deliveries to private, loopback and link-local addresses are refused unless OUTBOUND_ALLOW lists the host or its network (with the port, or any port)';

/** The port a URL connects to (its default when it names none). */
export function portOf(url: URL): number {
  return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** Creates the outbound policy. */
export function createOutboundPolicy(options: OutboundPolicyOptions = {}): OutboundPolicy {
  const lookup: LookupAll =
    options.lookup ?? ((hostname) => dns.lookup(hostname, { all: true, verbatim: true }));
  // Entries without a port allow every port of what they name; the others, that port alone.
  const anyPort = 0;
  const networks = new Map<number, BlockList>();
  const hosts = new Map<string, Set<number>>();
  const suffixes: { suffix: string; port: number }[] = [];
  const networkFor = (port: number) => {
    let list = networks.get(port);
    if (!list) {
      list = new BlockList();
      networks.set(port, list);
    }
    return list;
  };
  for (const item of options.allow ?? []) {
    const entry = parseAllowEntry(item);
    if (typeof entry === 'string') throw new Error(`OUTBOUND_ALLOW entry "${item}": ${entry}`);
    const port = entry.port ?? anyPort;
    if (entry.kind === 'network') {
      networkFor(port).addSubnet(entry.address, entry.bits, `ipv${entry.family}`);
    } else if (entry.kind === 'address') {
      networkFor(port).addAddress(entry.address, `ipv${entry.family}`);
    } else if (entry.kind === 'suffix') {
      suffixes.push({ suffix: entry.suffix, port });
    } else {
      const ports = hosts.get(entry.name) ?? new Set<number>();
      ports.add(port);
      hosts.set(entry.name, ports);
    }
  }

  const portMatches = (allowed: number, port: number | undefined) =>
    allowed === anyPort || allowed === port;

  const hostAllowed = (host: string, port: number | undefined) => {
    const name = host.toLowerCase().replace(/\.$/, '');
    const ports = hosts.get(name);
    if (ports && [...ports].some((allowed) => portMatches(allowed, port))) return true;
    return suffixes.some((entry) => name.endsWith(entry.suffix) && portMatches(entry.port, port));
  };

  const allowsAddress = (address: string, host: string, port?: number) => {
    const ip = stripBrackets(address);
    if (classifyAddress(ip) === 'public') return true;
    if (hostAllowed(stripBrackets(host), port)) return true;
    const family = isIP(ip);
    if (family === 0) return false;
    for (const [allowed, list] of networks) {
      if (portMatches(allowed, port) && list.check(ip, family === 4 ? 'ipv4' : 'ipv6')) {
        return true;
      }
    }
    return false;
  };

  const checkUrl = (raw: string): URL => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new OutboundRefusedError(
        'OUTBOUND_INVALID_URL',
        `"${raw.slice(0, 200)}" is not a valid URL`,
      );
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new OutboundRefusedError(
        'OUTBOUND_UNSUPPORTED_SCHEME',
        `${url.protocol.replace(/:$/, '')} URLs cannot receive deliveries: use https (or http)`,
      );
    }
    if (url.username || url.password) {
      throw new OutboundRefusedError(
        'OUTBOUND_CREDENTIALS_IN_URL',
        'the URL carries credentials (user:password@); deliveries are authenticated by their Standard Webhooks signature instead',
      );
    }
    const host = stripBrackets(url.hostname);
    if (isIP(host) && !allowsAddress(host, host, portOf(url))) {
      throw new OutboundRefusedError(
        'OUTBOUND_PRIVATE_ADDRESS',
        `${url.host} is a ${classifyAddress(host).replace('_', '-')} address: ${ALLOW_HINT} (e.g. OUTBOUND_ALLOW=${url.host})`,
      );
    }
    return url;
  };

  const allowedAddresses = async (host: string, port?: number): Promise<LookupAddress[]> => {
    const bare = stripBrackets(host);
    const family = isIP(bare);
    let addresses: LookupAddress[];
    if (family) {
      addresses = [{ address: bare, family }];
    } else {
      try {
        addresses = await lookup(bare);
      } catch (error) {
        throw new OutboundRefusedError(
          'OUTBOUND_DNS_FAILED',
          `${bare} does not resolve (${(error as { code?: string }).code ?? 'lookup failed'}): check the host name`,
          { cause: error },
        );
      }
    }
    if (addresses.length === 0) {
      throw new OutboundRefusedError(
        'OUTBOUND_DNS_FAILED',
        `${bare} resolves to no address: check the host name`,
      );
    }
    const refused = addresses.filter((entry) => !allowsAddress(entry.address, bare, port));
    if (refused.length > 0) {
      const first = refused[0]?.address ?? '';
      throw new OutboundRefusedError(
        'OUTBOUND_PRIVATE_ADDRESS',
        `${bare} resolves to ${first}, a ${classifyAddress(first).replace('_', '-')} address: ${ALLOW_HINT} (e.g. OUTBOUND_ALLOW=${bare})`,
      );
    }
    return addresses;
  };

  return {
    checkUrl,
    async checkDestination(raw) {
      const url = checkUrl(raw);
      await allowedAddresses(url.hostname, portOf(url));
      return url;
    },
    allowsAddress,
    allowedAddresses,
  };
}
