import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGuardedAgent } from './agent.js';
import { OutboundRefusedError, createOutboundPolicy, type LookupAll } from './policy.js';

const fakeDns =
  (table: Record<string, string[]>): LookupAll =>
  async (host) => {
    const addresses = table[host];
    if (!addresses) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

async function refusal(promise: Promise<unknown> | (() => unknown)) {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    if (error instanceof OutboundRefusedError) return error.code;
    const cause = (error as { cause?: unknown }).cause;
    if (cause instanceof OutboundRefusedError) return cause.code;
    throw error;
  }
  return undefined;
}

describe('outbound policy', () => {
  const lookup = fakeDns({
    'pipeline.example.com': ['93.184.216.34'],
    'sneaky.example.com': ['93.184.216.34', '10.0.0.8'],
    'metadata.example.com': ['169.254.169.254'],
    'v6.example.com': ['::ffff:127.0.0.1'],
    'nat64.example.com': ['64:ff9b::a00:8'],
    'pipeline.internal': ['10.1.2.3'],
  });

  it('allows public destinations', async () => {
    const policy = createOutboundPolicy({ lookup });
    expect((await policy.checkDestination('https://pipeline.example.com/hooks')).host).toBe(
      'pipeline.example.com',
    );
    expect(await refusal(policy.checkDestination('https://93.184.216.34/x'))).toBeUndefined();
  });

  it('refuses private, loopback, link-local and embedded private addresses, literal or resolved', async () => {
    const policy = createOutboundPolicy({ lookup });
    for (const url of [
      'http://127.0.0.1:9000/',
      'http://[::1]/',
      'http://10.0.0.8/',
      'http://169.254.169.254/latest/meta-data',
      'http://[::ffff:10.0.0.8]/',
      'http://[64:ff9b::a00:8]/',
      'http://2130706433/',
      'http://0x7f.1/',
      'https://sneaky.example.com/',
      'https://metadata.example.com/',
      'https://v6.example.com/',
      'https://nat64.example.com/',
    ]) {
      expect(await refusal(policy.checkDestination(url)), url).toBe('OUTBOUND_PRIVATE_ADDRESS');
    }
  });

  it('explains a refusal and how to allow it', async () => {
    const policy = createOutboundPolicy({ lookup });
    await expect(policy.checkDestination('https://pipeline.internal/x')).rejects.toThrow(
      'pipeline.internal resolves to 10.1.2.3, a private address: deliveries to private, loopback and link-local addresses are refused unless OUTBOUND_ALLOW lists the host or its network (with the port, or any port) (e.g. OUTBOUND_ALLOW=pipeline.internal)',
    );
  });

  it('lets OUTBOUND_ALLOW open exact hosts, wildcard domains, addresses and CIDR blocks', async () => {
    const policy = createOutboundPolicy({
      lookup,
      allow: ['pipeline.internal', '*.corp.example', '127.0.0.1', 'fd00::/8', '169.254.0.0/16'],
    });
    expect(await refusal(policy.checkDestination('https://pipeline.internal/x'))).toBeUndefined();
    expect(policy.allowsAddress('10.9.9.9', 'a.b.corp.example')).toBe(true);
    expect(policy.allowsAddress('10.9.9.9', 'corp.example.evil')).toBe(false);
    expect(await refusal(policy.checkDestination('http://127.0.0.1:9000/'))).toBeUndefined();
    expect(await refusal(policy.checkDestination('http://127.0.0.2:9000/'))).toBe(
      'OUTBOUND_PRIVATE_ADDRESS',
    );
    expect(await refusal(policy.checkDestination('http://[fd12::1]/'))).toBeUndefined();
    expect(await refusal(policy.checkDestination('https://metadata.example.com/'))).toBeUndefined();
  });

  it('lets an OUTBOUND_ALLOW entry with a port open that port of the host alone', async () => {
    const policy = createOutboundPolicy({
      lookup,
      allow: ['127.0.0.1:8443', '10.0.0.0/8:443', 'pipeline.internal:9000', '[fd00::/8]:443'],
    });
    expect(await refusal(policy.checkDestination('https://127.0.0.1:8443/hook'))).toBeUndefined();
    // The Redis on the same host stays out of reach.
    expect(await refusal(policy.checkDestination('http://127.0.0.1:6379/'))).toBe(
      'OUTBOUND_PRIVATE_ADDRESS',
    );
    expect(await refusal(policy.checkDestination('https://10.9.9.9/'))).toBeUndefined();
    expect(await refusal(policy.checkDestination('http://10.9.9.9/'))).toBe(
      'OUTBOUND_PRIVATE_ADDRESS',
    );
    expect(
      await refusal(policy.checkDestination('http://pipeline.internal:9000/x')),
    ).toBeUndefined();
    // Port 80 of it: neither its own entry (9000) nor its network's (443).
    expect(await refusal(policy.checkDestination('http://pipeline.internal/x'))).toBe(
      'OUTBOUND_PRIVATE_ADDRESS',
    );
    expect(await refusal(policy.checkDestination('https://[fd12::1]/'))).toBeUndefined();
    expect(await refusal(policy.checkDestination('https://[fd12::1]:8443/'))).toBe(
      'OUTBOUND_PRIVATE_ADDRESS',
    );
  });

  it('refuses malformed URLs, other schemes, credentials and unknown hosts', async () => {
    const policy = createOutboundPolicy({ lookup });
    expect(await refusal(() => policy.checkUrl('not a url'))).toBe('OUTBOUND_INVALID_URL');
    expect(await refusal(() => policy.checkUrl('ftp://pipeline.example.com/'))).toBe(
      'OUTBOUND_UNSUPPORTED_SCHEME',
    );
    expect(await refusal(() => policy.checkUrl('file:///etc/passwd'))).toBe(
      'OUTBOUND_UNSUPPORTED_SCHEME',
    );
    expect(await refusal(() => policy.checkUrl('https://u:p@pipeline.example.com/'))).toBe(
      'OUTBOUND_CREDENTIALS_IN_URL',
    );
    expect(await refusal(policy.checkDestination('https://nowhere.example.com/'))).toBe(
      'OUTBOUND_DNS_FAILED',
    );
  });
});

describe('guarded agent', () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createServer((_request, response) => response.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('refuses at connect time a name that now resolves to a private address (rebinding)', async () => {
    let calls = 0;
    const rebinding: LookupAll = async () => {
      calls++;
      return [{ address: calls === 1 ? '93.184.216.34' : '127.0.0.1', family: 4 }];
    };
    const policy = createOutboundPolicy({ lookup: rebinding });
    await policy.checkDestination(`http://rebind.example.com:${port}/`);
    const agent = createGuardedAgent(policy);
    expect(
      await refusal(request(`http://rebind.example.com:${port}/`, { dispatcher: agent })),
    ).toBe('OUTBOUND_PRIVATE_ADDRESS');
    await agent.close();
  });

  it('checks the port at connect time too: a name allowed on one port reaches no other', async () => {
    const other = createServer((_request, response) => response.end('redis?'));
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const otherPort = (other.address() as AddressInfo).port;
    let calls = 0;
    // Public when the destination is checked, loopback when connecting (rebinding).
    const rebinding: LookupAll = async () => {
      calls++;
      return [{ address: calls === 1 ? '93.184.216.34' : '127.0.0.1', family: 4 }];
    };
    const policy = createOutboundPolicy({ lookup: rebinding, allow: [`127.0.0.1:${port}`] });
    const agent = createGuardedAgent(policy);
    await policy.checkDestination(`http://pipeline.test:${otherPort}/`);
    expect(
      await refusal(request(`http://pipeline.test:${otherPort}/`, { dispatcher: agent })),
    ).toBe('OUTBOUND_PRIVATE_ADDRESS');
    const allowed = await request(`http://pipeline.test:${port}/`, { dispatcher: agent });
    expect(await allowed.body.text()).toBe('ok');
    await agent.close();
    await new Promise<void>((resolve) => other.close(() => resolve()));
  });

  it('checks an IP-literal host itself, which is connected to without a lookup', async () => {
    const policy = createOutboundPolicy({ allow: ['127.0.0.1:9'] });
    const agent = createGuardedAgent(policy);
    expect(await refusal(request(`http://127.0.0.1:${port}/`, { dispatcher: agent }))).toBe(
      'OUTBOUND_PRIVATE_ADDRESS',
    );
    expect(await refusal(request(`http://[::1]:${port}/`, { dispatcher: agent }))).toBe(
      'OUTBOUND_PRIVATE_ADDRESS',
    );
    const open = createGuardedAgent(createOutboundPolicy({ allow: [`127.0.0.1:${port}`] }));
    const allowed = await request(`http://127.0.0.1:${port}/`, { dispatcher: open });
    expect(await allowed.body.text()).toBe('ok');
    await agent.close();
    await open.close();
  });

  it('connects when the resolved address is allowed', async () => {
    const policy = createOutboundPolicy({
      lookup: async () => [{ address: '127.0.0.1', family: 4 }],
      allow: ['127.0.0.1'],
    });
    const agent = createGuardedAgent(policy);
    const response = await request(`http://pipeline.local.test:${port}/`, { dispatcher: agent });
    expect(await response.body.text()).toBe('ok');
    await agent.close();
  });
});
