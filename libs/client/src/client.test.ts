import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectNoToken, failure } from '../test/assertions.js';
import { createdReply, startFakeGateway, type FakeGateway } from '../test/fake-gateway.js';
import { createGatewayClient, type GatewayClient } from './client.js';

let gateway: FakeGateway;
let client: GatewayClient;

beforeEach(async () => {
  gateway = await startFakeGateway();
  client = createGatewayClient({ baseUrl: gateway.baseUrl, token: gateway.token });
});

afterEach(async () => {
  await gateway.close();
});

describe('register', () => {
  it('posts the snake_case registration with the bearer token and returns it camelCased', async () => {
    const created = await client.register({
      deliverTo: 'https://pipeline.example/hooks/parsed',
      parseJobId: 'job_1',
      metadata: { document: 'contract.pdf' },
      expectCallbackWithinS: 900,
      deliverySecret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      requireSignature: true,
    });

    const [request] = gateway.requests;
    expect(request?.method).toBe('POST');
    expect(request?.url).toBe('/v1/registrations');
    expect(request?.headers.authorization).toBe(`Bearer ${gateway.token}`);
    expect(request?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(request?.body ?? '')).toEqual({
      deliver_to: 'https://pipeline.example/hooks/parsed',
      source: 'llamaparse',
      parse_job_id: 'job_1',
      metadata: { document: 'contract.pdf' },
      expect_callback_within_s: 900,
      delivery_secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      require_signature: true,
    });
    expect(created).toEqual({
      id: 'reg_1',
      callbackUrl: 'https://public.example/v1/callbacks/reg_1',
      signingSecret: 'sig_llamaparse_secret',
      deliverySecret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      expiresAt: '2026-01-02T00:00:00.000Z',
      expectCallbackBy: '2026-01-01T01:00:00.000Z',
      createdAt: '2026-01-01T00:00:00.000Z',
      state: 'waiting',
      source: 'llamaparse',
      deliverTo: 'https://pipeline.example/hooks/parsed',
      parseJobId: 'job_1',
      callbackUrlSource: 'cloud_config',
      extra: {},
    });
  });

  it('leaves unset fields out so the gateway defaults apply, and defaults source to llamaparse', async () => {
    await client.register({ deliverTo: 'https://pipeline.example/in' });
    expect(JSON.parse(gateway.requests[0]?.body ?? '')).toEqual({
      deliver_to: 'https://pipeline.example/in',
      source: 'llamaparse',
    });
  });

  it('keeps fields it does not know in extra instead of failing', async () => {
    gateway.override(() => ({
      status: 201,
      body: {
        ...createdReply({ id: 'reg_9', state: 'waiting', source: 'llamaparse', deliver_to: 'x' }),
        expires_at: 'a',
        expect_callback_by: 'b',
        created_at: 'c',
        parse_job_id: null,
        tenant: 'acme',
      },
    }));
    const created = await client.register({ deliverTo: 'x' });
    expect(created.extra).toEqual({ tenant: 'acme' });
    expect(created.parseJobId).toBeNull();
  });

  it('sends through the injected fetch and keeps a base URL path prefix', async () => {
    const seen: string[] = [];
    const prefixed = createGatewayClient({
      baseUrl: `${gateway.baseUrl}/gw/`,
      token: gateway.token,
      fetch: (input, init) => {
        seen.push(`${init.method} ${input}`);
        return fetch(input, init);
      },
    });
    await failure(prefixed.status('reg_1'));
    expect(seen).toEqual([`GET ${gateway.baseUrl}/gw/v1/registrations/reg_1`]);
    expect(gateway.requests[0]?.url).toBe('/gw/v1/registrations/reg_1');
  });
});

describe('attachJob and status', () => {
  it('patches the parse job id and reads the registration view camelCased', async () => {
    const { id } = await client.register({ deliverTo: 'https://pipeline.example/in' });
    const attached = await client.attachJob(id, 'job_42');
    const patch = gateway.requests[1];
    expect(patch?.method).toBe('PATCH');
    expect(patch?.url).toBe(`/v1/registrations/${id}`);
    expect(patch?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(patch?.body ?? '')).toEqual({ parse_job_id: 'job_42' });
    expect(attached.parseJobId).toBe('job_42');

    const view = await client.status(id);
    const get = gateway.requests[2];
    expect(get?.method).toBe('GET');
    expect(get?.headers.authorization).toBe(`Bearer ${gateway.token}`);
    expect(get?.body).toBe('');
    expect(view).toMatchObject({
      id,
      state: 'waiting',
      parseJobId: 'job_42',
      metadata: null,
      callbacksReceived: 1,
      lastCallbackAt: '2026-01-01T00:05:00.000Z',
      callbacks: [{ id: 'cb_1', format: 'event', eventType: 'parse.success', eventId: 'evt_1' }],
      deliveries: [{ id: 'dl_1', state: 'delivered', attempts: 2, lastStatus: 200 }],
    });
  });

  it('says which LlamaCloud API the job belongs to, when told, on register and attachJob', async () => {
    await client.register({
      deliverTo: 'https://pipeline.example/in',
      parseJobId: 'j',
      parseApi: 'v1',
    });
    await client.attachJob('reg_1', 'job_43', { parseApi: 'v2' }).catch(() => undefined);

    expect(JSON.parse(gateway.requests[0]?.body ?? '')).toMatchObject({
      parse_job_id: 'j',
      parse_api: 'v1',
    });
    expect(JSON.parse(gateway.requests[1]?.body ?? '')).toEqual({
      parse_job_id: 'job_43',
      parse_api: 'v2',
    });
  });

  it('encodes the registration id into the path', async () => {
    await failure(client.status('a/b?c'));
    expect(gateway.requests[0]?.url).toBe('/v1/registrations/a%2Fb%3Fc');
  });

  it('refuses an empty id or parse job id without calling the gateway', async () => {
    expect((await failure(client.status(''))).code).toBe('GATEWAY_CLIENT_USAGE');
    expect((await failure(client.attachJob('reg_1', ''))).code).toBe('GATEWAY_CLIENT_USAGE');
    expect((await failure(client.register({ deliverTo: '' }))).code).toBe('GATEWAY_CLIENT_USAGE');
    expect(gateway.requests).toHaveLength(0);
  });
});

describe('options', () => {
  it.each([
    ['a base URL that is not one', { baseUrl: 'not a url', token: 't' }],
    ['a non-http base URL', { baseUrl: 'ftp://gateway', token: 't' }],
    ['credentials in the base URL', { baseUrl: 'http://u:p@gateway', token: 't' }],
    ['an empty token', { baseUrl: 'http://gateway', token: ' ' }],
    ['a token with a newline', { baseUrl: 'http://gateway', token: 'abc\n' }],
    ['a zero timeout', { baseUrl: 'http://gateway', token: 't', timeoutMs: 0 }],
  ])('refuses %s', (_name, options) => {
    expect(() => createGatewayClient(options)).toThrow(
      expect.objectContaining({ code: 'GATEWAY_CLIENT_USAGE' }),
    );
  });

  it('does not quote a bad token in its refusal', () => {
    try {
      createGatewayClient({ baseUrl: 'http://gateway', token: 'secret value' });
      expect.unreachable();
    } catch (error) {
      expectNoToken(error, 'secret value');
    }
  });
});
