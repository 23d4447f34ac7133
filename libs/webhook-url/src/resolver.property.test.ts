import { isIP } from 'node:net';
import { memoryAuditLog } from '@callback-gateway/audit/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { captureLogger } from '../test/helpers.js';
import type { UrlSourceName } from './errors.js';
import { classifyAddress, isPublicAddress } from './ip-address.js';
import { checkPublicBaseUrl } from './public-url-policy.js';
import { createWebhookUrlResolver } from './resolver.js';
import { fakeNgrok } from './testing.js';
import type { CacheRedis } from './url-cache.js';
import type { LookupFunction } from './verify.js';

const octet = fc.integer({ min: 0, max: 255 });
const ipv4 = fc.tuple(octet, octet, octet, octet);
const toU32 = ([a, b, c, d]: number[]) =>
  (((a ?? 0) << 24) >>> 0) + ((b ?? 0) << 16) + ((c ?? 0) << 8) + (d ?? 0);
const nonPublicV4 = fc.oneof(
  fc.tuple(fc.constant(127), octet, octet, octet),
  fc.tuple(fc.constant(10), octet, octet, octet),
  fc.tuple(fc.constant(192), fc.constant(168), octet, octet),
  fc.tuple(fc.constant(169), fc.constant(254), octet, octet),
  fc.tuple(fc.constant(172), fc.integer({ min: 16, max: 31 }), octet, octet),
  fc.tuple(fc.constant(100), fc.integer({ min: 64, max: 127 }), octet, octet),
  fc.tuple(fc.constant(0), octet, octet, octet),
);
const anyV4 = fc.oneof(ipv4, nonPublicV4);

/** Every textual trick that denotes an IPv4 address. */
const ipv4LiteralHost = fc.tuple(anyV4, fc.integer({ min: 0, max: 7 })).map(([parts, form]) => {
  const n = toU32(parts);
  const [a = 0, b = 0, c = 0, d = 0] = parts;
  switch (form) {
    case 0:
      return parts.join('.');
    case 1:
      return String(n);
    case 2:
      return `0x${n.toString(16)}`;
    case 3:
      return parts.map((p) => `0${p.toString(8)}`).join('.');
    case 4:
      return parts.map((p) => `0x${p.toString(16)}`).join('.');
    case 5:
      return `${a}.${(b << 16) + (c << 8) + d}`;
    case 6:
      return `${a}.${b}.${(c << 8) + d}`;
    default:
      return `${parts.join('.')}.`;
  }
});
const hex16 = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16));
const ipv6LiteralHost = fc
  .oneof(
    fc.ipV6(),
    anyV4.map((p) => `::ffff:${p.join('.')}`),
    anyV4.map((p) => `::${p.join('.')}`),
    anyV4.map((p) => `64:ff9b::${p.join('.')}`),
    fc.tuple(hex16, hex16).map(([x, y]) => `2002:${x}:${y}::1`),
    fc.constantFrom('::1', '::', 'fe80::1%25eth0', 'fe80::1%25en0'),
  )
  .map((ip) => `[${ip}]`);
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
const localHost = fc.oneof(
  fc.constantFrom('localhost', 'LOCALHOST', 'localhost.', 'Localhost'),
  label.map((l) => `${l}.localhost`),
  label,
);
const reservedHost = fc
  .tuple(
    label,
    fc.constantFrom(
      'local',
      'internal',
      'lan',
      'home.arpa',
      'test',
      'invalid',
      'example',
      'localhost',
    ),
  )
  .map(([l, suffix]) => `${l}.${suffix}`);
const dnsHost = fc
  .tuple(label, label, fc.constantFrom('com', 'net', 'io', 'app', 'dev'))
  .map((p) => p.join('.'));
const host = fc.oneof(ipv4LiteralHost, ipv6LiteralHost, localHost, reservedHost, dnsHost);
const trickUrl = fc
  .tuple(
    fc.constantFrom('https', 'http', 'HTTPS', 'ftp'),
    host,
    fc.option(fc.integer({ min: 1, max: 65535 })),
    fc.constantFrom('', '/', '/gw', '/a/b/'),
  )
  .map(([scheme, h, port, path]) => `${scheme}://${h}${port === null ? '' : `:${port}`}${path}`);
const candidateUrl = fc.oneof(
  { weight: 6, arbitrary: trickUrl },
  { weight: 1, arbitrary: fc.webUrl() },
  { weight: 1, arbitrary: fc.string() },
);

/** What the injected DNS answers, for every name: a mix that often includes private addresses. */
const addresses = fc.array(
  fc.oneof(
    anyV4.map((p) => p.join('.')),
    fc.ipV6(),
    nonPublicV4.map((p) => `::ffff:${p.join('.')}`),
    fc.constantFrom(
      '::1',
      'fe80::1',
      'fd00::1',
      '64:ff9b::a00:1',
      '2002:a00:1::1',
      '93.184.215.14',
    ),
  ),
  { maxLength: 3 },
);

function memoryRedis(entries: Map<string, string>): CacheRedis {
  const fake = {
    status: 'ready',
    get: async (key: string) => entries.get(key) ?? null,
    set: async (key: string, value: string) => {
      entries.set(key, value);
      return 'OK';
    },
    del: async (key: string) => (entries.delete(key) ? 1 : 0),
  };
  return fake as unknown as CacheRedis;
}

function assertNeverLocal(baseUrl: string, answered: readonly string[], depth: string) {
  const hostname = new URL(baseUrl).hostname;
  expect(isIP(hostname.replace(/^\[|\]$/g, ''))).toBe(0);
  expect(hostname.startsWith('[')).toBe(false);
  expect(hostname === 'localhost' || hostname.endsWith('.localhost')).toBe(false);
  expect(hostname.includes('.')).toBe(true);
  if (depth === 'dns') {
    for (const address of answered)
      expect([address, classifyAddress(address)]).toEqual([address, 'public']);
  }
}

describe('no input, from any source, ever yields a loopback, private or link-local URL', () => {
  const options = fc.record({
    url: candidateUrl,
    answered: addresses,
    depth: fc.constantFrom('syntax' as const, 'dns' as const),
    allowInsecureHttp: fc.boolean(),
  });
  const sources: UrlSourceName[] = ['cloud_config', 'ngrok', 'cache'];

  for (const source of sources) {
    it(`through the ${source} source`, async () => {
      let resolved = 0;
      await fc.assert(
        fc.asyncProperty(options, async ({ url, answered, depth, allowInsecureHttp }) => {
          const lookup: LookupFunction = async () =>
            answered.map((address) => ({ address, family: isIP(address) }));
          const ngrok = fakeNgrok(url);
          const entries = new Map<string, string>();
          entries.set(
            'k',
            JSON.stringify({
              baseUrl: url,
              source: 'cloud_config',
              verifiedBy: 'dns',
              insecure: false,
              resolvedAt: new Date().toISOString(),
            }),
          );
          const resolver = createWebhookUrlResolver({
            sources: [source],
            publicBaseUrl: url,
            ngrok: { authtoken: 'tok_property_0123456789', forward: ngrok.forward },
            redis: memoryRedis(entries),
            cacheKey: 'k',
            verify: depth,
            allowInsecureHttp,
            lookup,
            retry: { attempts: 0 },
            deadlineMs: 2_000,
            audit: memoryAuditLog(),
            logger: captureLogger().logger,
          });
          try {
            const resolution = await resolver.resolve().catch(() => undefined);
            if (resolution) {
              resolved++;
              assertNeverLocal(resolution.baseUrl, answered, depth);
              expect(resolution.insecure).toBe(resolution.baseUrl.startsWith('http:'));
              if (!allowInsecureHttp) expect(resolution.baseUrl.startsWith('https://')).toBe(true);
            }
          } finally {
            await resolver.close();
          }
        }),
        { numRuns: 300 },
      );
      // The property is not vacuous: some generated inputs are good public URLs and pass.
      expect(resolved).toBeGreaterThan(0);
    });
  }

  it('the syntax policy refuses every IP literal trick, localhost variant and reserved name', () => {
    fc.assert(
      fc.property(fc.oneof(ipv4LiteralHost, ipv6LiteralHost, localHost, reservedHost), (h) => {
        const result = checkPublicBaseUrl(`https://${h}/`, { allowInsecureHttp: true });
        expect(result.ok).toBe(false);
      }),
      { numRuns: 2_000 },
    );
  });

  it('isPublicAddress never accepts an address from a non-public IPv4 range, however it is written', () => {
    fc.assert(
      fc.property(nonPublicV4, fc.integer({ min: 0, max: 3 }), (parts, form) => {
        const [a = 0, b = 0, c = 0, d = 0] = parts;
        const hi = ((a << 8) | b).toString(16);
        const lo = ((c << 8) | d).toString(16);
        const text = [
          parts.join('.'),
          `::ffff:${parts.join('.')}`,
          `64:ff9b::${hi}:${lo}`,
          `2002:${hi}:${lo}::1`,
        ][form] as string;
        expect(isPublicAddress(text)).toBe(false);
      }),
      { numRuns: 2_000 },
    );
  });
});
