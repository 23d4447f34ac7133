import { FormData, request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startLlamaCloudFake, type LlamaCloudFake } from '../testing.js';

const CALLBACK_URL = 'https://hooks.example.com/v1/callbacks/llamaparse/tok_api';
/** What every v2 job names. */
const TIERED = { tier: 'cost_effective', version: 'latest' };

/** The fake's API spoken to with raw HTTP, as any LlamaCloud client would. */
describe('the fake LlamaCloud API', () => {
  let fake: LlamaCloudFake;

  beforeEach(async () => {
    // Callbacks are not the subject here: none leave the machine.
    fake = await startLlamaCloudFake({ apiKey: 'llx-test-key', dropCallbacks: () => true });
  });
  afterEach(() => fake.close());

  async function call(
    method: 'GET' | 'POST',
    path: string,
    body?: { json: unknown } | { form: FormData },
    apiKey: string | null = fake.apiKey,
  ): Promise<{ status: number; json: Record<string, unknown> }> {
    const headers: Record<string, string> = {};
    if (apiKey !== null) headers['authorization'] = `Bearer ${apiKey}`;
    if (body && 'json' in body) headers['content-type'] = 'application/json';
    const response = await request(`${fake.baseUrl}${path}`, {
      method,
      headers,
      body: body && ('json' in body ? JSON.stringify(body.json) : body.form),
    });
    return {
      status: response.statusCode,
      json: (await response.body.json()) as Record<string, unknown>,
    };
  }

  function v1Form(fields: Record<string, string>, file = true): FormData {
    const form = new FormData();
    if (file) form.append('file', new Blob(['%PDF']), 'a.pdf');
    for (const [name, value] of Object.entries(fields)) form.append(name, value);
    return form;
  }

  async function createV2(): Promise<string> {
    const { json } = await call('POST', '/api/v2/parse', {
      json: { ...TIERED, file_id: 'f', webhook_configurations: [{ webhook_url: CALLBACK_URL }] },
    });
    return String(json['id']);
  }

  it('answers 401 {"detail":"Invalid API key"} without the right Bearer key', async () => {
    expect(await call('GET', '/api/v2/parse/x', undefined, null)).toEqual({
      status: 401,
      json: { detail: 'Invalid API key' },
    });
    expect((await call('GET', '/api/v2/parse/x', undefined, 'llx-other')).status).toBe(401);
    expect(fake.requests.map((r) => r.authorized)).toEqual([false, false]);
  });

  it('answers 404 with a detail for an unknown job on v1 and v2', async () => {
    for (const path of ['/api/v2/parse/nope', '/api/parsing/job/nope']) {
      const answer = await call('GET', path);
      expect(answer.status).toBe(404);
      expect(answer.json['detail']).toMatch(/nope/);
    }
  });

  it('knows each job on its own API only: a v1 job is unknown to v2, and the reverse', async () => {
    const v2 = await createV2();
    const { json } = await call('POST', '/api/parsing/upload', { form: v1Form({}) });
    const v1 = String(json['id']);

    expect((await call('GET', `/api/parsing/job/${v2}`)).status).toBe(404);
    expect((await call('GET', `/api/v2/parse/${v1}`)).status).toBe(404);
    expect((await call('GET', `/api/parsing/job/${v1}`)).status).toBe(200);
    expect((await call('GET', `/api/v2/parse/${v2}`)).status).toBe(200);
  });

  it('refuses a v1 upload with neither file nor input_url, or with both', async () => {
    const neither = await call('POST', '/api/v1/parsing/upload', {
      form: v1Form({ webhook_url: CALLBACK_URL }, false),
    });
    const both = await call('POST', '/api/v1/parsing/upload', {
      form: v1Form({ input_url: 'https://x.example.com/a.pdf' }),
    });

    expect(neither).toEqual({
      status: 400,
      json: { detail: 'Either a file or an input_url must be provided.' },
    });
    expect(both.status).toBe(400);
    expect(fake.jobs.size).toBe(0);
  });

  it.each([
    ['plain http', 'http://hooks.example.com/cb', /https/],
    ['an IPv4 host', 'https://203.0.113.9/cb', /domain name, not an IP/],
    ['an IPv6 host', 'https://[2001:db8::1]/cb', /domain name, not an IP/],
    ['200 characters', `https://hooks.example.com/${'a'.repeat(174)}`, /under 200 characters/],
  ])('refuses a webhook_url with %s, on v1 and v2', async (_what, url, reason) => {
    expect(url.length).toBeLessThanOrEqual(200);
    const v1 = await call('POST', '/api/v1/parsing/upload', { form: v1Form({ webhook_url: url }) });
    const v2 = await call('POST', '/api/v2/parse', {
      json: { ...TIERED, file_id: 'f', webhook_configurations: [{ webhook_url: url }] },
    });

    expect(v1.status).toBe(400);
    expect(v1.json['detail']).toMatch(reason);
    expect(v2.status).toBe(400);
    expect(v2.json['detail']).toMatch(reason);
  });

  it('accepts a 199-character https webhook_url', async () => {
    const url = `https://hooks.example.com/${'a'.repeat(173)}`;
    expect(url).toHaveLength(199);

    const answer = await call('POST', '/api/v1/parsing/upload', {
      form: v1Form({ webhook_url: url }),
    });

    expect(answer.json).toMatchObject({ status: 'PENDING', error_code: null, error_message: null });
  });

  it('refuses a v2 parse without file_id or source_url, and a mistyped field with 422', async () => {
    const missing = await call('POST', '/api/v2/parse', { json: TIERED });
    const mistyped = await call('POST', '/api/v2/parse', {
      json: { ...TIERED, file_id: 'f', webhook_configurations: [{ webhook_url: 7 }] },
    });

    expect(missing).toEqual({
      status: 400,
      json: { detail: 'Either file_id or source_url must be provided.' },
    });
    expect(mistyped).toEqual({
      status: 422,
      json: {
        detail: [
          {
            type: 'string_type',
            loc: ['body', 'webhook_configurations', 0, 'webhook_url'],
            msg: 'Input should be a valid string',
            input: 7,
          },
        ],
      },
    });
  });

  it('refuses a v2 upload without a file, without a configuration, or with one that is not JSON', async () => {
    const nothing = new FormData();
    nothing.append('other', 'x');
    const badConfiguration = new FormData();
    badConfiguration.append('file', new Blob(['%PDF']), 'a.pdf');
    badConfiguration.append('configuration', '{not json');

    expect(await call('POST', '/api/v2/parse/upload', { form: nothing })).toEqual({
      status: 422,
      json: {
        detail: [
          { type: 'missing', loc: ['body', 'file'], msg: 'Field required' },
          { type: 'missing', loc: ['body', 'configuration'], msg: 'Field required' },
        ],
      },
    });
    expect(await call('POST', '/api/v2/parse/upload', { form: badConfiguration })).toMatchObject({
      status: 422,
      json: { detail: [{ type: 'json_invalid', loc: ['body', 'configuration'] }] },
    });
    expect(fake.jobs.size).toBe(0);
  });

  it('gives the same parts for expand comma-separated and repeated, and ignores unknown names', async () => {
    const id = await createV2();
    fake.complete(id, { pages: [{ text: 't', markdown: 'm' }] });

    const comma = await call('GET', `/api/v2/parse/${id}?expand=markdown,text_full,bogus`);
    const repeated = await call('GET', `/api/v2/parse/${id}?expand=markdown&expand=text_full`);

    expect(Object.keys(comma.json).sort()).toEqual(['job', 'markdown', 'text_full']);
    expect(comma.json).toEqual(repeated.json);
    expect(comma.json['text_full']).toBe('t');
  });

  it('shows no result parts before the job completes', async () => {
    const id = await createV2();
    fake.setRunning(id);

    const answer = await call('GET', `/api/v2/parse/${id}?expand=markdown,text`);

    expect(Object.keys(answer.json)).toEqual(['job']);
    expect(answer.json['job']).toMatchObject({ id, status: 'RUNNING' });
  });

  it('shows failed pages of a partial success as success: false', async () => {
    const id = await createV2();
    fake.complete(id, { pages: [{ markdown: 'ok' }, { error: 'page 2 timed out' }] });

    const v2 = await call('GET', `/api/v2/parse/${id}?expand=markdown`);

    expect(v2.json['job']).toMatchObject({ status: 'COMPLETED' });
    expect(v2.json['markdown']).toEqual({
      pages: [
        { markdown: 'ok', page_number: 1, success: true },
        { error: 'page 2 timed out', page_number: 2, success: false },
      ],
    });
  });

  it('shows a v1 job with a failed page as PARTIAL_SUCCESS', async () => {
    const { json } = await call('POST', '/api/parsing/upload', { form: v1Form({}) });
    fake.complete(String(json['id']), { pages: [{ markdown: 'ok' }, { error: 'timed out' }] });

    const v1 = await call('GET', `/api/parsing/job/${String(json['id'])}`);

    expect(v1.json['status']).toBe('PARTIAL_SUCCESS');
  });

  it('serves v1 results with job_metadata, also under the /api/v1/parsing prefix', async () => {
    const { json } = await call('POST', '/api/v1/parsing/upload', { form: v1Form({}) });
    const id = String(json['id']);
    expect((await call('GET', `/api/v1/parsing/job/${id}/result/markdown`)).status).toBe(404);
    fake.complete(id, { markdown: '# Whole', cacheHit: true });

    const answer = await call('GET', `/api/parsing/job/${id}/result/markdown`);

    expect(answer).toEqual({
      status: 200,
      json: {
        markdown: '# Whole',
        job_metadata: { job_pages: 1, job_auto_mode_triggered_pages: 0, job_is_cache_hit: true },
      },
    });
  });

  it('lists v2 jobs filtered by status and job_ids, a page at a time', async () => {
    const [a, b, c] = [await createV2(), await createV2(), await createV2()];
    fake.complete(a);
    fake.complete(c);

    const completed = await call('GET', '/api/v2/parse?status=COMPLETED&page_size=1');
    const next = await call(
      'GET',
      `/api/v2/parse?status=COMPLETED&page_size=1&page_token=${String(completed.json['next_page_token'])}`,
    );
    const byId = await call('GET', `/api/v2/parse?job_ids=${b},${c}`);

    expect(completed.json['items']).toMatchObject([{ id: a }]);
    expect(next.json).toMatchObject({ items: [{ id: c }], next_page_token: null });
    expect((byId.json['items'] as Array<{ id: string }>).map((j) => j.id)).toEqual([b, c]);
  });

  it('answers a canned failure once, then serves normally', async () => {
    fake.failNext({ status: 500, detail: 'Internal error' });

    expect(await call('GET', '/api/v2/parse/x')).toEqual({
      status: 500,
      json: { detail: 'Internal error' },
    });
    expect((await call('GET', '/api/v2/parse/x')).status).toBe(404);
  });

  it('refuses to move a job that has ended or does not exist', async () => {
    const id = await createV2();
    fake.complete(id);

    expect(() => fake.complete(id)).toThrow(/cannot complete job .* it is succeeded/);
    expect(() => fake.setRunning(id)).toThrow(/cannot set running/);
    expect(() => fake.cancel('nope')).toThrow(/has no job nope/);
  });

  it('uses the projectId and clock it is given, and generates an llx- key by default', async () => {
    const at = Date.parse('2025-07-31T18:07:55.115Z');
    const own = await startLlamaCloudFake({ projectId: 'proj-own', now: () => at });
    try {
      expect(own.apiKey).toMatch(/^llx-[\w-]{20,}$/);
      const response = await request(`${own.baseUrl}/api/v2/parse`, {
        method: 'POST',
        headers: { authorization: `Bearer ${own.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...TIERED, source_url: 'https://x.example.com/a.pdf' }),
      });
      expect(await response.body.json()).toMatchObject({
        project_id: 'proj-own',
        created_at: '2025-07-31T18:07:55.115Z',
        updated_at: '2025-07-31T18:07:55.115Z',
      });
    } finally {
      await own.close();
    }
  });

  it('closes idempotently and stops listening', async () => {
    await Promise.all([fake.close(), fake.close()]);

    await expect(call('GET', '/api/v2/parse/x')).rejects.toThrow(/ECONNREFUSED/);
  });
});
