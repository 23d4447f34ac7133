import { createServer, type Server } from 'node:http';
import type { AddressInfo, LookupFunction as NetLookup } from 'node:net';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROBE_PATH, answerProbe, probeProof, probePublicBaseUrl } from './probe.js';
import { staticLookup } from './testing.js';
import { verifyHostAddresses, verifyPublicBaseUrl } from './verify.js';

const PROBE_KEY = 'probe-key-0123456789abcdef';

/** Routes every name to loopback, so a real server on port 0 stands in for the public host. */
const toLoopback: NetLookup = (_host, options, callback) => {
  if ((options as { all?: boolean }).all) {
    (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [
      { address: '127.0.0.1', family: 4 },
    ]);
  } else callback(null, '127.0.0.1', 4);
};

describe('verifyHostAddresses', () => {
  it('accepts a name whose every address is public', async () => {
    const lookup = staticLookup({
      'gw.example.com': ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
    });
    await expect(verifyHostAddresses('gw.example.com', lookup)).resolves.toHaveLength(2);
  });

  it('refuses a callback URL that resolves to 10.0.0.8', async () => {
    const lookup = staticLookup({ 'gw.example.com': ['93.184.215.14', '10.0.0.8'] });
    await expect(verifyHostAddresses('gw.example.com', lookup)).rejects.toMatchObject({
      code: 'WEBHOOK_URL_PRIVATE_ADDRESS',
      retryable: false,
      message: expect.stringContaining('10.0.0.8 (private)'),
    });
  });

  it('refuses private ranges hidden in 6to4, NAT64 and Teredo forms', async () => {
    for (const address of [
      '2002:a00:8::1',
      '64:ff9b::7f00:1',
      '2001:0:4136:e378:8000:63bf:f5ff:fffe',
    ]) {
      await expect(
        verifyHostAddresses('gw.example.com', staticLookup({ 'gw.example.com': [address] })),
      ).rejects.toMatchObject({
        code: 'WEBHOOK_URL_PRIVATE_ADDRESS',
      });
    }
  });

  it('calls a name that resolves to nothing a retryable DNS failure', async () => {
    await expect(verifyHostAddresses('gone.example.com', staticLookup({}))).rejects.toMatchObject({
      code: 'WEBHOOK_URL_DNS_FAILED',
      retryable: true,
    });
    await expect(verifyHostAddresses('empty.example.com', async () => [])).rejects.toMatchObject({
      code: 'WEBHOOK_URL_DNS_FAILED',
    });
  });

  it("stops waiting for a lookup when the signal aborts, with the signal's reason", async () => {
    const never = () => new Promise<never>(() => undefined);
    const signal = AbortSignal.timeout(50);
    const started = Date.now();
    const error: unknown = await verifyHostAddresses('slow.example.com', never, signal).catch(
      (reason: unknown) => reason,
    );
    expect(Date.now() - started).toBeLessThan(1_000);
    // The caller's own reason, not a DNS failure to retry.
    expect(error).toBe(signal.reason);
    expect(error).toMatchObject({ name: 'TimeoutError' });
  });
});

describe('the probe protocol', () => {
  let server: Server;
  let port = 0;
  let answerWith: (nonce: string) => { status: number; body: string } = (nonce) => {
    const answer = answerProbe(PROBE_KEY, nonce);
    return { status: answer.status, body: JSON.stringify(answer.body) };
  };
  const dispatcher = new Agent({ connect: { lookup: toLoopback } });

  beforeAll(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== PROBE_PATH) {
        res.writeHead(404).end();
        return;
      }
      const { status, body } = answerWith(url.searchParams.get('nonce') ?? '');
      res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await dispatcher.close();
    await new Promise((resolve) => server.close(resolve));
  });
  const base = () => `http://gateway.probe-test.dev:${port}`;

  it('answers a probe with the nonce and its HMAC proof, and refuses a malformed nonce', () => {
    expect(answerProbe(PROBE_KEY, 'ab'.repeat(16))).toEqual({
      status: 200,
      body: { nonce: 'ab'.repeat(16), proof: probeProof(PROBE_KEY, 'ab'.repeat(16)) },
    });
    expect(answerProbe(PROBE_KEY, 'not hex').status).toBe(400);
    expect(answerProbe(PROBE_KEY, undefined).status).toBe(400);
  });

  it('proves through a real HTTP round trip that the URL routes to this gateway', async () => {
    await expect(
      verifyPublicBaseUrl(base(), {
        depth: 'probe',
        allowInsecureHttp: true,
        probeKey: PROBE_KEY,
        dispatcher,
        lookup: staticLookup({ 'gateway.probe-test.dev': ['93.184.215.14'] }),
      }),
    ).resolves.toMatchObject({ verifiedBy: 'probe', insecure: true });
  });

  it('calls a proof made with another key a mismatch', async () => {
    answerWith = (nonce) => ({
      status: 200,
      body: JSON.stringify(answerProbe('another-key-0123456789', nonce).body),
    });
    await expect(probePublicBaseUrl(base(), { key: PROBE_KEY, dispatcher })).rejects.toMatchObject({
      code: 'WEBHOOK_URL_PROBE_MISMATCH',
      retryable: false,
    });
  });

  it('does not follow redirects', async () => {
    answerWith = () => ({ status: 302, body: '' });
    await expect(probePublicBaseUrl(base(), { key: PROBE_KEY, dispatcher })).rejects.toMatchObject({
      code: 'WEBHOOK_URL_PROBE_FAILED',
      message: expect.stringContaining('redirects are not followed'),
    });
  });

  it('refuses an answer larger than the body cap', async () => {
    answerWith = () => ({ status: 200, body: 'x'.repeat(10_000) });
    await expect(
      probePublicBaseUrl(base(), { key: PROBE_KEY, dispatcher, maxBodyBytes: 1_000 }),
    ).rejects.toMatchObject({
      code: 'WEBHOOK_URL_PROBE_FAILED',
      message: expect.stringContaining('larger than 1000 bytes'),
    });
  });

  it('gives up on a silent server within its timeout', async () => {
    answerWith = () => ({ status: 200, body: '{}' });
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentPort = (silent.address() as AddressInfo).port;
    const started = Date.now();
    await expect(
      probePublicBaseUrl(`http://gateway.probe-test.dev:${silentPort}`, {
        key: PROBE_KEY,
        dispatcher,
        signal: AbortSignal.timeout(300),
      }),
    ).rejects.toMatchObject({ code: 'WEBHOOK_URL_PROBE_FAILED', retryable: true });
    expect(Date.now() - started).toBeLessThan(2_000);
    silent.closeAllConnections();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('calls probe depth without a probe key a configuration error', async () => {
    await expect(
      verifyPublicBaseUrl('https://gw.example.com', { depth: 'probe', lookup: staticLookup({}) }),
    ).rejects.toMatchObject({ code: 'WEBHOOK_URL_PROBE_KEY_MISSING', retryable: false });
  });
});
