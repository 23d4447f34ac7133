import { BlockList, isIP } from 'node:net';

/** What kind of address an IP is. Only `public` may ever be a callback target. */
export type AddressCategory =
  | 'public'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link_local'
  | 'cgnat'
  | 'ula'
  | 'multicast'
  | 'documentation'
  | 'benchmark'
  | 'reserved'
  | 'invalid';

type Ranges = readonly (readonly [AddressCategory, string, number])[];

// Order matters: the first match wins (more specific ranges first).
const IPV4_RANGES: Ranges = [
  ['unspecified', '0.0.0.0', 8],
  ['loopback', '127.0.0.0', 8],
  ['private', '10.0.0.0', 8],
  ['private', '172.16.0.0', 12],
  ['private', '192.168.0.0', 16],
  ['cgnat', '100.64.0.0', 10],
  ['link_local', '169.254.0.0', 16],
  ['documentation', '192.0.2.0', 24],
  ['documentation', '198.51.100.0', 24],
  ['documentation', '203.0.113.0', 24],
  ['benchmark', '198.18.0.0', 15],
  ['multicast', '224.0.0.0', 4],
  ['reserved', '240.0.0.0', 4],
  ['reserved', '192.0.0.0', 24],
  ['reserved', '192.88.99.0', 24],
];

// IPv4-embedding prefixes (mapped, compatible, NAT64, 6to4, Teredo) are decoded before these.
const IPV6_RANGES: Ranges = [
  ['unspecified', '::', 128],
  ['loopback', '::1', 128],
  ['link_local', 'fe80::', 10],
  ['private', 'fec0::', 10],
  ['ula', 'fc00::', 7],
  ['multicast', 'ff00::', 8],
  ['documentation', '2001:db8::', 32],
  ['documentation', '3fff::', 20],
  ['benchmark', '2001:2::', 48],
  ['reserved', '100::', 64],
  ['reserved', '2001::', 23],
];

function blockLists(ranges: Ranges, family: 'ipv4' | 'ipv6') {
  return ranges.map(([category, network, prefix]) => {
    const list = new BlockList();
    list.addSubnet(network, prefix, family);
    return { category, list };
  });
}

const V4 = blockLists(IPV4_RANGES, 'ipv4');
const V6 = blockLists(IPV6_RANGES, 'ipv6');
const GLOBAL_UNICAST_V6 = new BlockList();
GLOBAL_UNICAST_V6.addSubnet('2000::', 3, 'ipv6');

/** Parses an IPv6 text form (with `::`, an IPv4 tail, no zone) into eight 16-bit groups. */
function ipv6Groups(text: string): number[] | undefined {
  let normalised = text;
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    // Rewrite an IPv4 tail (`::ffff:1.2.3.4`) as two hex groups.
    if (isIP(last) !== 4) return undefined;
    const [a = 0, b = 0, c = 0, d = 0] = last.split('.').map(Number);
    const hex = (n: number) => n.toString(16);
    normalised = `${text.slice(0, lastColon + 1)}${hex((a << 8) | b)}:${hex((c << 8) | d)}`;
  }
  const halves = normalised.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string | undefined) =>
    part
      ? part.split(':').map((group) => (/^[0-9a-f]{1,4}$/.test(group) ? parseInt(group, 16) : NaN))
      : [];
  const left = parse(halves[0]);
  const right = parse(halves[1]);
  const missing = 8 - left.length - right.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...left, ...Array<number>(halves.length === 2 ? missing : 0).fill(0), ...right];
  return groups.length === 8 && groups.every((g) => g >= 0 && g <= 0xffff) ? groups : undefined;
}

function ipv4FromGroups(high: number, low: number): string {
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

function classifyV4(ip: string): AddressCategory {
  for (const { category, list } of V4) if (list.check(ip, 'ipv4')) return category;
  return 'public';
}

function classifyV6(ip: string): AddressCategory {
  const g = ipv6Groups(ip);
  if (!g) return 'invalid';
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const upperZero = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  // IPv4-mapped ::ffff:a.b.c.d and the deprecated IPv4-compatible ::a.b.c.d.
  if (upperZero && g5 === 0xffff) return classifyV4(ipv4FromGroups(g6, g7));
  if (upperZero && g5 === 0 && (g6 !== 0 || g7 > 1)) return classifyV4(ipv4FromGroups(g6, g7));
  // NAT64: the well-known prefix carries the IPv4 in its last 32 bits.
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) {
    return classifyV4(ipv4FromGroups(g6, g7));
  }
  // Local-use NAT64 (RFC 8215) is never globally routable, whatever it embeds.
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 1) {
    const embedded = classifyV4(ipv4FromGroups(g6, g7));
    return embedded === 'public' ? 'reserved' : embedded;
  }
  // 6to4: 2002:AABB:CCDD::/48 embeds AA.BB.CC.DD.
  if (g0 === 0x2002) return classifyV4(ipv4FromGroups(g1, g2));
  // Teredo: server IPv4 in bits 32-63, client IPv4 XOR-inverted in the last 32 bits.
  if (g0 === 0x2001 && g1 === 0) {
    const client = classifyV4(ipv4FromGroups(g6 ^ 0xffff, g7 ^ 0xffff));
    if (client !== 'public') return client;
    return classifyV4(ipv4FromGroups(g2, g3));
  }
  for (const { category, list } of V6) if (list.check(ip, 'ipv6')) return category;
  return GLOBAL_UNICAST_V6.check(ip, 'ipv6') ? 'public' : 'reserved';
}

/**
 * Classifies an IP address (text form, IPv4 or IPv6, optionally bracketed or with a zone id).
 * IPv6 forms that embed an IPv4 address (mapped, compatible, NAT64 `64:ff9b::/96` and
 * `64:ff9b:1::/48`, 6to4 `2002::/16`, Teredo `2001::/32`) are classified by what they embed,
 * so a private range cannot hide inside them. Anything that is not an IP is `invalid`.
 */
export function classifyAddress(ip: string): AddressCategory {
  let text = ip.trim();
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const zone = text.indexOf('%');
  if (zone >= 0) {
    // A zone id only means something for link-local scopes: never a public target.
    const base = text.slice(0, zone);
    return isIP(base) === 6 && zone < text.length - 1 ? 'link_local' : 'invalid';
  }
  const family = isIP(text);
  if (family === 4) return classifyV4(text);
  if (family === 6) return classifyV6(text.toLowerCase());
  return 'invalid';
}

/** True only for a globally routable unicast address (see {@link classifyAddress}). */
export function isPublicAddress(ip: string): boolean {
  return classifyAddress(ip) === 'public';
}
