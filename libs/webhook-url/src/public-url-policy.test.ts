import { describe, expect, it } from 'vitest';
import {
  CALLBACK_PATH_RESERVE,
  callbackPathReserveFor,
  MAX_CALLBACK_URL_LENGTH,
  assertPublicBaseUrl,
  checkPublicBaseUrl,
} from './public-url-policy.js';

const codeOf = (url: string, allowInsecureHttp = false) => {
  const result = checkPublicBaseUrl(url, { allowInsecureHttp });
  return result.ok ? 'ok' : result.code;
};

describe('checkPublicBaseUrl', () => {
  it('accepts an https URL on a public DNS name and normalises it', () => {
    expect(assertPublicBaseUrl('https://Gateway.Example.COM:443/')).toEqual({
      baseUrl: 'https://gateway.example.com',
      host: 'gateway.example.com',
      insecure: false,
    });
  });

  it('keeps a path prefix and a non-default port, without the trailing slash', () => {
    expect(assertPublicBaseUrl('https://hooks.example.org:8443/gw/').baseUrl).toBe(
      'https://hooks.example.org:8443/gw',
    );
  });

  it('drops a single trailing dot of the host but refuses an empty label', () => {
    expect(assertPublicBaseUrl('https://example.com./').baseUrl).toBe('https://example.com');
    expect(codeOf('https://example.com../')).toBe('WEBHOOK_URL_INVALID');
  });

  it('turns international names into punycode', () => {
    expect(assertPublicBaseUrl('https://bücher.example.com').baseUrl).toBe(
      'https://xn--bcher-kva.example.com',
    );
  });

  it('refuses plain http unless the development switch is on, then marks it insecure', () => {
    expect(codeOf('http://gateway.example.com')).toBe('WEBHOOK_URL_SCHEME_NOT_ALLOWED');
    expect(
      checkPublicBaseUrl('http://gateway.example.com', { allowInsecureHttp: true }),
    ).toMatchObject({
      ok: true,
      insecure: true,
    });
    expect(codeOf('ftp://gateway.example.com', true)).toBe('WEBHOOK_URL_SCHEME_NOT_ALLOWED');
  });

  it.each([
    'https://127.0.0.1',
    'https://8.8.8.8',
    'https://2130706433',
    'https://0x7f000001',
    'https://0x7f.1',
    'https://0177.0.0.1',
    'https://127.1',
    'https://127.0.1',
    'https://0',
    'https://1.2.3.4.5',
    'https://host.123',
    'https://host.0x1f',
    'https://[::1]',
    'https://[::ffff:127.0.0.1]',
    'https://[::ffff:7f00:1]',
    'https://[fe80::1%25eth0]',
    'https://[2606:4700::1111]:8443',
    'https://１２７.０.０.１',
  ])('refuses the IP literal form %s', (url) => {
    expect(codeOf(url)).toBe('WEBHOOK_URL_IP_LITERAL');
  });

  it.each(['https://localhost', 'https://LOCALHOST.', 'https://api.localhost', 'https://gateway'])(
    'refuses the local name %s',
    (url) => {
      expect(codeOf(url)).toBe('WEBHOOK_URL_LOCAL_HOST');
    },
  );

  it.each([
    'https://printer.local',
    'https://db.internal',
    'https://nas.lan',
    'https://router.home.arpa',
    'https://1.0.0.127.in-addr.arpa',
    'https://app.test',
    'https://x.invalid',
    'https://www.example',
  ])('refuses the reserved name %s', (url) => {
    expect(codeOf(url)).toBe('WEBHOOK_URL_RESERVED_NAME');
  });

  it('refuses userinfo, query strings and fragments', () => {
    expect(codeOf('https://user:pw@gateway.example.com')).toBe('WEBHOOK_URL_HAS_CREDENTIALS');
    expect(codeOf('https://@gateway.example.com')).toBe('WEBHOOK_URL_HAS_CREDENTIALS');
    expect(codeOf('https://gateway.example.com/?a=1')).toBe('WEBHOOK_URL_HAS_QUERY_OR_FRAGMENT');
    expect(codeOf('https://gateway.example.com/#top')).toBe('WEBHOOK_URL_HAS_QUERY_OR_FRAGMENT');
    expect(codeOf('https://gateway.example.com?')).toBe('WEBHOOK_URL_HAS_QUERY_OR_FRAGMENT');
  });

  it.each([
    '',
    'gateway.example.com',
    'https://',
    'https://exa mple.com',
    'https://example.com\\@evil.com',
    'https://exam_ple.com',
    'https://-bad.example.com',
    'https://ex%61mple.com',
    'https://example.com:99999',
    ' https://example.com',
  ])('refuses the malformed URL %j', (url) => {
    expect(codeOf(url)).toBe('WEBHOOK_URL_INVALID');
  });

  it('keeps every issued callback URL under 200 characters', () => {
    const longest = MAX_CALLBACK_URL_LENGTH - 1 - CALLBACK_PATH_RESERVE;
    const base = (length: number) =>
      `https://example.com/${'a'.repeat(length - 'https://example.com/'.length)}`;
    expect(CALLBACK_PATH_RESERVE).toBe(68);
    // Tokens of partitions past the first carry `.p<n>`: 16 partitions reserve 4 more.
    expect(callbackPathReserveFor(1)).toBe(68);
    expect(callbackPathReserveFor(16)).toBe(72);
    expect(callbackPathReserveFor(256)).toBe(73);
    expect(codeOf(base(longest))).toBe('ok');
    expect(codeOf(base(longest + 1))).toBe('WEBHOOK_URL_TOO_LONG');
    expect(checkPublicBaseUrl(base(100), { callbackPathReserve: 120 })).toMatchObject({
      ok: false,
      code: 'WEBHOOK_URL_TOO_LONG',
    });
  });

  it('says what to do next in every refusal', () => {
    const result = checkPublicBaseUrl('http://localhost:8000');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/https/);
    const local = checkPublicBaseUrl('https://localhost:8000');
    if (!local.ok) expect(local.reason).toMatch(/PUBLIC_BASE_URL|NGROK_AUTHTOKEN/);
  });

  it('throws the typed error from assertPublicBaseUrl', () => {
    expect(() => assertPublicBaseUrl('https://10.0.0.8')).toThrow(
      expect.objectContaining({ code: 'WEBHOOK_URL_IP_LITERAL', retryable: false }),
    );
  });
});
