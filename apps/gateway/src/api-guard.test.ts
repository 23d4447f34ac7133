import { describe, expect, it } from 'vitest';
import { fromOrigin, requestOrigin } from './api-guard.js';

describe('requestOrigin', () => {
  it('writes the origin as browsers do, default ports dropped', () => {
    expect(requestOrigin('http', '127.0.0.1:8080')).toBe('http://127.0.0.1:8080');
    expect(requestOrigin('https', 'Gateway.Example.com:443')).toBe('https://gateway.example.com');
    expect(requestOrigin('http', '[::1]:8080')).toBe('http://[::1]:8080');
  });

  it('names no origin for a host that is not one', () => {
    for (const host of ['', 'evil.example/x', 'user@gateway.example.com', 'a b', 'x:99999']) {
      expect([host, requestOrigin('http', host)]).toEqual([host, undefined]);
    }
  });
});

describe('fromOrigin', () => {
  const own = 'https://gateway.example.com';

  it('accepts the exact origin, or Sec-Fetch-Site: same-origin when there is no Origin', () => {
    expect(fromOrigin({ origin: own }, own)).toBe(true);
    expect(fromOrigin({ 'sec-fetch-site': 'same-origin' }, own)).toBe(true);
  });

  it('refuses another port, scheme or host of the same site, "null", and silence', () => {
    for (const headers of [
      { origin: 'https://gateway.example.com:8443' },
      { origin: 'http://gateway.example.com' },
      { origin: 'https://evil.gateway.example.com' },
      { origin: 'null' },
      { origin: `${own}, https://evil.example` },
      { origin: 'https://evil.example', 'sec-fetch-site': 'same-origin' },
      { 'sec-fetch-site': 'same-site' },
      { 'sec-fetch-site': ['same-origin', 'same-origin'] },
      {},
    ]) {
      expect([headers, fromOrigin(headers, own)]).toEqual([headers, false]);
    }
    expect(fromOrigin({ origin: own }, undefined)).toBe(false);
  });
});
