import { describe, expect, it } from 'vitest';
import { classifyAddress, isPublicAddress } from './ip-address.js';

describe('classifyAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.1.2', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['10.0.0.8', 'private'],
    ['172.16.5.4', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'cgnat'],
    ['169.254.169.254', 'link_local'],
    ['192.0.2.10', 'documentation'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['198.18.0.1', 'benchmark'],
    ['224.0.0.251', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['192.0.0.8', 'reserved'],
    ['8.8.8.8', 'public'],
    ['172.32.0.1', 'public'],
  ])('classifies the IPv4 address %s as %s', (ip, category) => {
    expect(classifyAddress(ip)).toBe(category);
  });

  it.each([
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link_local'],
    ['fe80::1%eth0', 'link_local'],
    ['[::1]', 'loopback'],
    ['fd00::1', 'ula'],
    ['fc12:3456::1', 'ula'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['2001:2::1', 'benchmark'],
    ['100::1', 'reserved'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.1.2.3', 'private'],
    ['::127.0.0.1', 'loopback'],
    ['::10.0.0.1', 'private'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['64:ff9b::a9fe:a9fe', 'link_local'],
    ['64:ff9b::8.8.8.8', 'public'],
    ['64:ff9b:1::8.8.8.8', 'reserved'],
    ['64:ff9b:1::192.168.0.1', 'private'],
    ['2002:7f00:1::', 'loopback'],
    ['2002:c0a8:101::1', 'private'],
    ['2002:808:808::1', 'public'],
    ['2001:0:4136:e378:8000:63bf:f5ff:fffe', 'private'],
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'loopback'],
    ['2606:4700:4700::1111', 'public'],
    ['4000::1', 'reserved'],
  ])('classifies the IPv6 address %s as %s', (ip, category) => {
    expect(classifyAddress(ip)).toBe(category);
  });

  it('calls anything that is not an IP address invalid', () => {
    for (const text of ['example.com', '', '1.2.3', '0x7f.1', '::ffff:1.2.3', 'fe80::1%']) {
      expect(classifyAddress(text)).toBe('invalid');
    }
  });

  it('calls only globally routable unicast addresses public', () => {
    expect(isPublicAddress('1.1.1.1')).toBe(true);
    expect(isPublicAddress('2a00:1450:4001:80b::200e')).toBe(true);
    expect(isPublicAddress('::ffff:192.168.0.1')).toBe(false);
    expect(isPublicAddress('not an ip')).toBe(false);
  });
});
