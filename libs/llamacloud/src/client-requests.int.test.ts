import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLlamaCloudClient, type LlamaCloudClient } from './index.js';

/**
 * The project's client against a server that records what it receives: the exact requests,
 * whatever any fake would accept. The other direction (the fake against the official SDK) is
 * `fake/sdk-contract.int.test.ts`.
 */

interface Recorded {
  method: string;
  path: string;
  query: Array<[string, string]>;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

const CALLBACK_URL = 'https://hooks.example.com/v1/callbacks/llamaparse/tok_exact';
const PDF = {
  name: 'report.pdf',
  content: Buffer.from('%PDF-1.4 exact'),
  contentType: 'application/pdf',
};
const JOB = { id: 'job-1', project_id: 'proj-1', status: 'PENDING' };

/** A valid answer for each path, so every call completes. */
function answerFor(path: string): unknown {
  if (path === '/api/v2/parse/versions') {
    return { fast: ['2026-06-15'], latest: { fast: '2026-06-15' } };
  }
  if (path === '/api/v2/parse' || path === '/api/v2/parse/upload') return JOB;
  if (path.endsWith('/cancel')) return { ...JOB, status: 'CANCELLED' };
  if (path.startsWith('/api/v2/parse/')) return { job: JOB };
  if (path.includes('/result/')) {
    const job_metadata = {
      job_pages: 1,
      job_auto_mode_triggered_pages: 0,
      job_is_cache_hit: false,
    };
    return { markdown: '# A', job_metadata };
  }
  return { id: 'job-1', status: 'PENDING', error_code: null, error_message: null };
}

/** The form parts, in order, as a server reads them. */
async function partsOf(request: Recorded) {
  const form = await new Request('http://recorded.local/', {
    method: 'POST',
    headers: { 'content-type': String(request.headers['content-type']) },
    body: request.body,
  }).formData();
  return Promise.all(
    [...form.entries()].map(async ([name, value]) =>
      typeof value === 'string'
        ? { name, value }
        : { name, filename: value.name, type: value.type, content: await value.text() },
    ),
  );
}

describe('the requests the LlamaCloud client sends', () => {
  let server: Server;
  let baseUrl: string;
  const received: Recorded[] = [];
  let client: LlamaCloudClient;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://recorded.local');
        received.push({
          method: req.method ?? '',
          path: url.pathname,
          query: [...url.searchParams],
          headers: req.headers,
          body: Buffer.concat(chunks),
        });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answerFor(url.pathname)));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  beforeEach(() => {
    received.length = 0;
    client = createLlamaCloudClient({ baseUrl, apiKey: 'llx-exact-key' });
  });

  const only = () => {
    expect(received).toHaveLength(1);
    return received[0] as Recorded;
  };

  it('creates a v2 job with one JSON body: tier, version and webhook_configurations as given', async () => {
    await client.parseV2({
      tier: 'cost_effective',
      version: 'latest',
      source_url: 'https://docs.example.com/a.pdf',
      webhook_configurations: [
        {
          webhook_url: CALLBACK_URL,
          webhook_signing_secret: 'lc-secret',
          webhook_output_format: 'json',
          webhook_events: ['parse.success', 'parse.error'],
        },
      ],
    });

    const request = only();
    expect([request.method, request.path, request.query]).toEqual(['POST', '/api/v2/parse', []]);
    expect(request.headers['content-type']).toBe('application/json');
    expect(JSON.parse(request.body.toString('utf8'))).toEqual({
      tier: 'cost_effective',
      version: 'latest',
      source_url: 'https://docs.example.com/a.pdf',
      webhook_configurations: [
        {
          webhook_url: CALLBACK_URL,
          webhook_signing_secret: 'lc-secret',
          webhook_output_format: 'json',
          webhook_events: ['parse.success', 'parse.error'],
        },
      ],
    });
  });

  it('uploads a v2 document as two parts: the configuration as JSON text, then the file', async () => {
    await client.uploadV2(PDF, {
      tier: 'agentic',
      version: '2026-08-19',
      webhook_configurations: [{ webhook_url: CALLBACK_URL, webhook_output_format: 'json' }],
    });

    const request = only();
    expect([request.method, request.path]).toEqual(['POST', '/api/v2/parse/upload']);
    expect(request.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(Number(request.headers['content-length'])).toBe(request.body.length);
    const parts = await partsOf(request);
    expect(parts.map((part) => part.name)).toEqual(['configuration', 'file']);
    expect(JSON.parse(String(parts[0]?.value))).toEqual({
      tier: 'agentic',
      version: '2026-08-19',
      webhook_configurations: [{ webhook_url: CALLBACK_URL, webhook_output_format: 'json' }],
    });
    expect(parts[1]).toEqual({
      name: 'file',
      filename: 'report.pdf',
      type: 'application/pdf',
      content: '%PDF-1.4 exact',
    });
  });

  it('reads a v2 job with expand repeated, and its id encoded into the path', async () => {
    await client.getJobV2('job 1/2', { expand: ['markdown', 'text'] });

    expect(only()).toMatchObject({
      method: 'GET',
      path: '/api/v2/parse/job%201%2F2',
      query: [
        ['expand', 'markdown'],
        ['expand', 'text'],
      ],
    });
  });

  it('lists, cancels and asks for the versions on the SDK paths', async () => {
    await client.listJobsV2({ status: 'COMPLETED', job_ids: ['a', 'b'], page_size: 2 });
    await client.cancelJobV2('job-1');
    await client.listVersionsV2();

    expect(received.map((r) => [r.method, r.path, r.query, r.body.length])).toEqual([
      [
        'GET',
        '/api/v2/parse',
        [
          ['status', 'COMPLETED'],
          ['job_ids', 'a'],
          ['job_ids', 'b'],
          ['page_size', '2'],
        ],
        0,
      ],
      ['POST', '/api/v2/parse/job-1/cancel', [], 0],
      ['GET', '/api/v2/parse/versions', [], 0],
    ]);
  });

  it('uploads a v1 document as the last official client did: file, webhook_url, extra fields', async () => {
    await client.uploadV1({ file: PDF, webhookUrl: CALLBACK_URL, extra: { language: 'fr' } });
    await client.uploadV1({ inputUrl: 'https://docs.example.com/b.pdf', webhookUrl: CALLBACK_URL });

    const [withFile, withUrl] = received;
    expect([withFile?.method, withFile?.path, withUrl?.path]).toEqual([
      'POST',
      '/api/parsing/upload',
      '/api/parsing/upload',
    ]);
    expect(await partsOf(withFile as Recorded)).toEqual([
      { name: 'file', filename: 'report.pdf', type: 'application/pdf', content: '%PDF-1.4 exact' },
      { name: 'webhook_url', value: CALLBACK_URL },
      { name: 'language', value: 'fr' },
    ]);
    expect(await partsOf(withUrl as Recorded)).toEqual([
      { name: 'input_url', value: 'https://docs.example.com/b.pdf' },
      { name: 'webhook_url', value: CALLBACK_URL },
    ]);
  });

  it('reads a v1 job and its result under /api/parsing/job', async () => {
    await client.getJobV1('job-1');
    await client.getResultV1('job-1', 'markdown');

    expect(received.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /api/parsing/job/job-1',
      'GET /api/parsing/job/job-1/result/markdown',
    ]);
  });

  it('sends the key, asks for JSON, names the SDK, and scopes every call when told to', async () => {
    const scoped = createLlamaCloudClient({
      baseUrl,
      apiKey: 'llx-exact-key',
      organizationId: 'org-1',
      projectId: 'proj-1',
    });

    await scoped.parseV2({ tier: 'fast', version: 'latest', file_id: 'f' });
    await scoped.uploadV2(PDF, { tier: 'fast', version: 'latest' });
    await scoped.getJobV2('job-1');
    await scoped.listJobsV2();
    await scoped.cancelJobV2('job-1');
    await scoped.listVersionsV2();
    await scoped.uploadV1({ file: PDF, webhookUrl: CALLBACK_URL });
    await scoped.getJobV1('job-1');
    await scoped.getResultV1('job-1', 'markdown');

    expect(received).toHaveLength(9);
    for (const request of received) {
      expect(request.query).toEqual(
        expect.arrayContaining([
          ['organization_id', 'org-1'],
          ['project_id', 'proj-1'],
        ]),
      );
      expect(request.headers).toMatchObject({
        authorization: 'Bearer llx-exact-key',
        accept: 'application/json',
        'user-agent': expect.stringMatching(/^LlamaCloud\/JS 2\.16\./),
        'x-stainless-retry-count': '0',
      });
    }
    // The scope goes in the query, never in a body.
    expect(JSON.parse(received[0]?.body.toString('utf8') ?? '')).toEqual({
      tier: 'fast',
      version: 'latest',
      file_id: 'f',
    });
  });
});
