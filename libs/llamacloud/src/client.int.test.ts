import { Agent, type Dispatcher } from 'undici';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLlamaCloudClient, type LlamaCloudClient } from './index.js';
import { startLlamaCloudFake, type LlamaCloudFake } from './testing.js';

const CALLBACK_URL = 'https://hooks.example.com/v1/callbacks/llamaparse/tok_3f9a';
const WEBHOOK = { webhook_url: CALLBACK_URL };
/** The least a v2 job takes: a tier, a version, a document. */
const JOB = { tier: 'cost_effective', version: 'latest', file_id: 'file-1' } as const;
const PDF = {
  name: 'report.pdf',
  content: Buffer.from('%PDF-1.4 fake'),
  contentType: 'application/pdf',
};

/** An agent that keeps the options of every request it is handed. */
class RecordingAgent extends Agent {
  readonly dispatched: Dispatcher.DispatchOptions[] = [];
  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler) {
    this.dispatched.push(options);
    return super.dispatch(options, handler);
  }
}

describe('the LlamaCloud client against the fake', () => {
  let fake: LlamaCloudFake;
  let client: LlamaCloudClient;

  beforeEach(async () => {
    // Callbacks are not the subject here: none leave the machine.
    fake = await startLlamaCloudFake({ dropCallbacks: () => true });
    client = createLlamaCloudClient({ baseUrl: fake.baseUrl, apiKey: fake.apiKey });
  });
  afterEach(() => fake.close());

  describe('uploadV1 (own code: the SDK has no v1)', () => {
    it('posts the file, webhook_url and extra fields as multipart to /api/parsing/upload', async () => {
      const job = await client.uploadV1({
        file: PDF,
        webhookUrl: CALLBACK_URL,
        extra: { result_type: 'markdown', language: 'en' },
      });

      expect(job).toEqual({
        id: expect.any(String),
        status: 'PENDING',
        error_code: null,
        error_message: null,
      });
      expect(fake.requests).toMatchObject([
        { method: 'POST', path: '/api/parsing/upload', authorized: true, status: 200 },
      ]);
      const [submission] = fake.submissions;
      expect(submission).toMatchObject({
        api: 'v1-upload',
        jobId: job.id,
        webhookUrl: CALLBACK_URL,
        fields: { webhook_url: CALLBACK_URL, result_type: 'markdown', language: 'en' },
        file: { name: 'report.pdf', size: PDF.content.length, contentType: 'application/pdf' },
      });
      expect(submission?.fields).not.toHaveProperty('file');
      expect(submission?.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
      expect(submission?.headers['accept']).toBe('application/json');
    });

    it('sends input_url instead of a file when given a URL', async () => {
      const job = await client.uploadV1({
        inputUrl: 'https://docs.example.com/files/annual.pdf',
        webhookUrl: CALLBACK_URL,
      });

      expect(fake.submissions[0]).toMatchObject({
        jobId: job.id,
        fields: {
          input_url: 'https://docs.example.com/files/annual.pdf',
          webhook_url: CALLBACK_URL,
        },
      });
      expect(fake.submissions[0]?.file).toBeUndefined();
      expect(fake.jobs.get(job.id)?.name).toBe('annual.pdf');
    });
  });

  describe("parseV2 (the SDK's parsing.create)", () => {
    it("posts JSON to /api/v2/parse with the SDK's fields as they are", async () => {
      const job = await client.parseV2({
        source_url: 'https://docs.example.com/files/contract.pdf',
        tier: 'agentic',
        version: 'latest',
        webhook_configurations: [
          {
            webhook_url: CALLBACK_URL,
            webhook_signing_secret: 'lc-secret-1',
            webhook_events: ['parse.success', 'parse.error'],
            webhook_headers: { 'X-Tenant': 'acme' },
            webhook_output_format: 'json',
          },
        ],
      });

      expect(job).toEqual({
        id: expect.any(String),
        project_id: fake.projectId,
        status: 'PENDING',
        created_at: expect.any(String),
        error_message: null,
        name: 'contract.pdf',
        tier: 'agentic',
        updated_at: expect.any(String),
      });
      expect(fake.requests[0]).toMatchObject({ method: 'POST', path: '/api/v2/parse' });
      const [submission] = fake.submissions;
      expect(submission?.headers['content-type']).toBe('application/json');
      expect(submission?.fields).toEqual({
        source_url: 'https://docs.example.com/files/contract.pdf',
        tier: 'agentic',
        version: 'latest',
        webhook_configurations: [
          {
            webhook_url: CALLBACK_URL,
            webhook_signing_secret: 'lc-secret-1',
            webhook_events: ['parse.success', 'parse.error'],
            webhook_headers: { 'X-Tenant': 'acme' },
            webhook_output_format: 'json',
          },
        ],
      });
      expect(submission).toMatchObject({
        api: 'v2-parse',
        jobId: job.id,
        webhookUrl: CALLBACK_URL,
        signingSecret: 'lc-secret-1',
        outputFormat: 'json',
      });
    });
  });

  describe("uploadV2 (the SDK's parsing.create with upload_file)", () => {
    it('posts the file and the configuration as a JSON string to /api/v2/parse/upload', async () => {
      const job = await client.uploadV2(PDF, {
        tier: 'fast',
        version: 'latest',
        webhook_configurations: [{ ...WEBHOOK, webhook_signing_secret: 'lc-secret-2' }],
      });

      expect(job).toMatchObject({ status: 'PENDING', name: 'report.pdf', tier: 'fast' });
      expect(fake.requests[0]).toMatchObject({ method: 'POST', path: '/api/v2/parse/upload' });
      const [submission] = fake.submissions;
      expect(submission).toMatchObject({
        api: 'v2-upload',
        jobId: job.id,
        webhookUrl: CALLBACK_URL,
        signingSecret: 'lc-secret-2',
        file: { name: 'report.pdf', size: PDF.content.length, contentType: 'application/pdf' },
      });
      expect(submission?.fields).toEqual({
        tier: 'fast',
        version: 'latest',
        webhook_configurations: [
          { webhook_url: CALLBACK_URL, webhook_signing_secret: 'lc-secret-2' },
        ],
      });
      expect(submission?.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    });
  });

  describe("getJobV2 (the SDK's parsing.get)", () => {
    it('follows a job from PENDING through RUNNING to COMPLETED', async () => {
      const { id } = await client.parseV2(JOB);

      expect((await client.getJobV2(id)).job.status).toBe('PENDING');
      fake.setRunning(id);
      expect((await client.getJobV2(id)).job.status).toBe('RUNNING');
      fake.complete(id);
      const done = await client.getJobV2(id);
      expect(done.job).toMatchObject({ id, status: 'COMPLETED', error_message: null });
      expect(done).not.toHaveProperty('markdown');
      expect(fake.requests.at(-1)).toMatchObject({ method: 'GET', path: `/api/v2/parse/${id}` });
    });

    it('sends expand repeated and returns the expanded parts as received', async () => {
      const { id } = await client.parseV2(JOB);
      fake.complete(id, {
        pages: [
          { text: 'one', markdown: '# One' },
          { text: 'two', markdown: '# Two' },
        ],
      });

      const result = await client.getJobV2(id, {
        expand: ['markdown', 'text', 'markdown_full', 'job_metadata'],
      });

      expect(fake.requests.at(-1)?.query).toEqual({
        expand: ['markdown', 'text', 'markdown_full', 'job_metadata'],
      });
      expect(result.markdown).toEqual({
        pages: [
          { markdown: '# One', page_number: 1, success: true },
          { markdown: '# Two', page_number: 2, success: true },
        ],
      });
      expect(result.text).toEqual({
        pages: [
          { page_number: 1, text: 'one' },
          { page_number: 2, text: 'two' },
        ],
      });
      expect(result.markdown_full).toBe('# One\n\n---\n\n# Two');
      expect(result.job_metadata).toEqual({
        job_pages: 2,
        job_auto_mode_triggered_pages: 0,
        job_is_cache_hit: false,
      });
    });

    it('reports a failed job with its error message, and a cancelled one', async () => {
      const failed = await client.parseV2(JOB);
      const cancelled = await client.parseV2({ ...JOB, file_id: 'file-2' });
      fake.fail(failed.id, 'The document is password protected.');
      fake.cancel(cancelled.id);

      expect((await client.getJobV2(failed.id)).job).toMatchObject({
        status: 'FAILED',
        error_message: 'The document is password protected.',
      });
      expect((await client.getJobV2(cancelled.id)).job.status).toBe('CANCELLED');
    });
  });

  describe('getJobV1 and getResultV1 (own code)', () => {
    it('reports SUCCESS, ERROR with its code, PARTIAL_SUCCESS and CANCELLED', async () => {
      const ids = await Promise.all(
        [1, 2, 3, 4].map(
          async () => (await client.uploadV1({ file: PDF, webhookUrl: CALLBACK_URL })).id,
        ),
      );
      const [ok = '', failed = '', partial = '', cancelled = ''] = ids;
      expect(await client.getJobV1(ok)).toEqual({
        id: ok,
        status: 'PENDING',
        error_code: null,
        error_message: null,
      });
      fake.complete(ok);
      fake.fail(failed, 'Unsupported file.', { code: 'UNSUPPORTED_FILE_TYPE' });
      fake.complete(partial, { pages: [{ text: 'fine' }, { error: 'page timed out' }] });
      fake.cancel(cancelled);

      expect((await client.getJobV1(ok)).status).toBe('SUCCESS');
      expect(await client.getJobV1(failed)).toEqual({
        id: failed,
        status: 'ERROR',
        error_code: 'UNSUPPORTED_FILE_TYPE',
        error_message: 'Unsupported file.',
      });
      expect((await client.getJobV1(partial)).status).toBe('PARTIAL_SUCCESS');
      expect((await client.getJobV1(cancelled)).status).toBe('CANCELLED');
      expect(fake.requests.at(-1)?.path).toBe(`/api/parsing/job/${cancelled}`);
    });

    it('fetches the markdown, text and json results with their job_metadata', async () => {
      const { id } = await client.uploadV1({ file: PDF, webhookUrl: CALLBACK_URL });
      const image = { name: 'img_p0_1.png', height: 100, width: 100, x: 0, y: 0 };
      fake.complete(id, {
        pages: [{ text: 'raw', markdown: '# Md', images: [image] }],
        autoModeTriggeredPages: 1,
        cacheHit: true,
      });
      const jobMetadata = { jobPages: 1, jobAutoModeTriggeredPages: 1, jobIsCacheHit: true };

      expect(await client.getResultV1(id, 'markdown')).toEqual({ markdown: '# Md', jobMetadata });
      expect(await client.getResultV1(id, 'text')).toEqual({ text: 'raw', jobMetadata });
      expect(await client.getResultV1(id, 'json')).toEqual({
        pages: [{ page: 1, text: 'raw', md: '# Md', images: [image] }],
        jobMetadata,
      });
      expect(fake.requests.at(-1)?.path).toBe(`/api/parsing/job/${id}/result/json`);
    });
  });

  describe('options', () => {
    it('sends organization_id and project_id on every call when set', async () => {
      const scoped = createLlamaCloudClient({
        baseUrl: fake.baseUrl,
        apiKey: fake.apiKey,
        organizationId: 'org-1',
        projectId: 'proj-1',
      });

      const job = await scoped.parseV2(JOB);
      await scoped.getJobV2(job.id, { expand: ['text'] });
      await scoped.getJobV1((await scoped.uploadV1({ file: PDF, webhookUrl: CALLBACK_URL })).id);

      expect(job.project_id).toBe('proj-1');
      expect(fake.requests).toHaveLength(4);
      for (const request of fake.requests) {
        expect(request.query).toMatchObject({ organization_id: ['org-1'], project_id: ['proj-1'] });
      }
      expect(fake.requests[1]?.query['expand']).toEqual(['text']);
    });

    it('sends through the dispatcher it is given, and leaves it open', async () => {
      const dispatcher = new RecordingAgent();
      const own = createLlamaCloudClient({
        baseUrl: fake.baseUrl,
        apiKey: fake.apiKey,
        dispatcher,
      });

      const job = await own.parseV2(JOB);
      await own.getJobV1(job.id).catch(() => undefined);

      expect(dispatcher.dispatched.map((options) => `${options.method} ${options.path}`)).toEqual([
        'POST /api/v2/parse',
        `GET /api/parsing/job/${job.id}`,
      ]);
      expect(dispatcher.closed).toBe(false);
      await dispatcher.close();
    });

    it('encodes an upload itself and hands the dispatcher bytes, never a FormData', async () => {
      // The global dispatcher may come from another copy of undici (Node 24's own), which
      // cannot encode this copy's FormData: it failed mid-request before the client encoded it.
      const dispatcher = new RecordingAgent();
      const own = createLlamaCloudClient({
        baseUrl: fake.baseUrl,
        apiKey: fake.apiKey,
        dispatcher,
      });

      const v1 = await own.uploadV1({ file: PDF, webhookUrl: CALLBACK_URL });
      const v2 = await own.uploadV2(PDF, { tier: 'fast', version: 'latest' });

      expect([v1.status, v2.status]).toEqual(['PENDING', 'PENDING']);
      expect(dispatcher.dispatched).toHaveLength(2);
      for (const options of dispatcher.dispatched) {
        expect(options.body).not.toBeInstanceOf(FormData);
        expect(String(options.headers)).not.toContain('[object FormData]');
      }
      expect(fake.submissions.map((entry) => entry.file?.size)).toEqual([
        PDF.content.length,
        PDF.content.length,
      ]);
      await dispatcher.close();
    });

    it('reads none of the LLAMA_CLOUD_* variables the SDK would read for what it is not given', async () => {
      vi.stubEnv('LLAMA_CLOUD_BASE_URL', 'http://127.0.0.1:9/elsewhere');
      vi.stubEnv('LLAMA_CLOUD_API_KEY', 'llx-from-the-environment');
      vi.stubEnv('LLAMA_CLOUD_LOG', 'debug');
      const logged = vi.spyOn(console, 'debug').mockImplementation(() => undefined);
      try {
        const own = createLlamaCloudClient({ baseUrl: fake.baseUrl, apiKey: fake.apiKey });

        await own.parseV2(JOB);

        expect(fake.requests).toMatchObject([{ path: '/api/v2/parse', authorized: true }]);
        expect(logged).not.toHaveBeenCalled();
      } finally {
        logged.mockRestore();
        vi.unstubAllEnvs();
      }
    });

    it('accepts a base URL with a trailing slash and refuses unusable options', async () => {
      const prefixed = createLlamaCloudClient({ baseUrl: `${fake.baseUrl}/`, apiKey: fake.apiKey });
      const job = await prefixed.parseV2(JOB);
      expect(fake.jobs.has(job.id)).toBe(true);
      expect(() => createLlamaCloudClient({ baseUrl: 'ftp://x', apiKey: 'k' })).toThrow(TypeError);
      expect(() => createLlamaCloudClient({ apiKey: ' ' })).toThrow(TypeError);
    });
  });
});
