import {
  AuthenticationError,
  BadRequestError,
  LlamaCloud,
  NotFoundError,
  UnprocessableEntityError,
} from '@llamaindex/llama-cloud';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startReceiver, type Receiver } from '../../test/receiver.js';
import { PARSE_TIERS } from '../parse-options.js';
import { startLlamaCloudFake, type LlamaCloudFake } from '../testing.js';

/**
 * The fake driven by the official SDK, as it is: every call the project makes must succeed, and
 * what the SDK's types say the API requires or forbids must be refused with the status (and so
 * the error class) the SDK documents: 400 BadRequestError, 404 NotFoundError, 422
 * UnprocessableEntityError. This is what keeps the fake honest: a fake more lenient than the
 * service hides exactly the bugs it exists to catch.
 */

const PUBLIC_BASE = 'https://hooks.example.com';
const CALLBACK_URL = `${PUBLIC_BASE}/v1/callbacks/llamaparse/tok_contract`;
const JOB: LlamaCloud.ParsingCreateParams = {
  tier: 'cost_effective',
  version: 'latest',
  source_url: 'https://docs.example.com/a.pdf',
};

/** What a refused call threw. */
async function refusal(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the fake to refuse the call');
    },
    (error: unknown) => error,
  );
}

/** The `detail` list of a 422, as FastAPI sends it. */
function issues(error: unknown): Array<{ type: string; loc: unknown[]; msg: string }> {
  expect(error).toBeInstanceOf(UnprocessableEntityError);
  const body = (error as UnprocessableEntityError).error as { detail: unknown };
  expect(Array.isArray(body.detail)).toBe(true);
  return body.detail as Array<{ type: string; loc: unknown[]; msg: string }>;
}

/** A request the SDK's types would not let through: what a buggy caller might send anyway. */
const untyped = (params: Record<string, unknown>) =>
  params as unknown as LlamaCloud.ParsingCreateParams;

describe('the fake, driven by the official SDK', () => {
  let fake: LlamaCloudFake;
  let receiver: Receiver;
  let sdk: LlamaCloud;

  beforeEach(async () => {
    receiver = await startReceiver();
    fake = await startLlamaCloudFake({
      rewriteCallbackUrl: (url) => url.replace(PUBLIC_BASE, receiver.url),
      retryDelaysMs: [10],
    });
    sdk = new LlamaCloud({
      apiKey: fake.apiKey,
      baseURL: fake.baseUrl,
      maxRetries: 0,
      logLevel: 'off',
    });
  });
  afterEach(async () => {
    await fake.close();
    await receiver.close();
  });

  describe('every call the project makes succeeds', () => {
    it('creates a job from a URL with a signed webhook configuration', async () => {
      const job = await sdk.parsing.create({
        ...JOB,
        tier: 'agentic',
        webhook_configurations: [
          {
            webhook_url: CALLBACK_URL,
            webhook_signing_secret: 'lc-secret',
            webhook_output_format: 'json',
            webhook_events: ['parse.success', 'parse.error'],
          },
        ],
      });

      expect(job).toMatchObject({
        id: expect.any(String),
        project_id: fake.projectId,
        status: 'PENDING',
        tier: 'agentic',
        name: 'a.pdf',
      });
      expect(fake.jobs.get(job.id)).toMatchObject({ tier: 'agentic', version: 'latest' });
    });

    it('uploads a file with its configuration', async () => {
      const job = await sdk.parsing.create({
        tier: 'fast',
        version: '2026-06-15',
        upload_file: new File(['%PDF-1.4 contract'], 'contract.pdf', { type: 'application/pdf' }),
      });

      expect(job.status).toBe('PENDING');
      expect(fake.submissions[0]).toMatchObject({
        api: 'v2-upload',
        file: { name: 'contract.pdf', size: 17, contentType: 'application/pdf' },
        fields: { tier: 'fast', version: '2026-06-15' },
      });
    });

    it('gets a job, with the parts expand asks for once it completed', async () => {
      const { id } = await sdk.parsing.create(JOB);
      expect((await sdk.parsing.get(id)).job.status).toBe('PENDING');
      fake.complete(id, { pages: [{ text: 'one', markdown: '# One' }, { error: 'timed out' }] });

      const result = await sdk.parsing.get(id, {
        expand: ['markdown', 'text', 'items', 'job_metadata', 'markdown_full', 'text_full'],
      });

      expect(result.job).toMatchObject({ id, status: 'COMPLETED' });
      expect(result.markdown?.pages).toEqual([
        { markdown: '# One', page_number: 1, success: true },
        { error: 'timed out', page_number: 2, success: false },
      ]);
      expect(result.text?.pages[0]).toEqual({ page_number: 1, text: 'one' });
      expect(result.markdown_full).toBe('# One');
      expect(result.job_metadata).toMatchObject({ job_pages: 2 });
    });

    it('lists jobs by status, page after page, with the auto-pagination', async () => {
      const ids: string[] = [];
      for (let index = 0; index < 3; index++) ids.push((await sdk.parsing.create(JOB)).id);
      fake.complete(ids[0] ?? '');
      fake.complete(ids[2] ?? '');

      const completed: string[] = [];
      for await (const job of sdk.parsing.list({ status: 'COMPLETED', page_size: 1 })) {
        completed.push(job.id);
      }
      const page = await sdk.parsing.list({ job_ids: [ids[1] ?? ''] });

      expect(completed).toEqual([ids[0], ids[2]]);
      expect(page.items.map((job) => job.id)).toEqual([ids[1]]);
    });

    it('cancels a running job, sends parse.cancelled, and refuses to cancel it again', async () => {
      const { id } = await sdk.parsing.create({
        ...JOB,
        webhook_configurations: [{ webhook_url: CALLBACK_URL, webhook_output_format: 'json' }],
      });
      fake.setRunning(id);

      const cancelled = await sdk.parsing.cancel(id);
      const again = await refusal(sdk.parsing.cancel(id));
      await fake.callbacksSettled();

      expect(cancelled).toMatchObject({ id, status: 'CANCELLED' });
      expect(again).toBeInstanceOf(BadRequestError);
      expect(receiver.received.map((r) => r.headers['x-webhook-event-type'])).toEqual([
        'parse.pending',
        'parse.running',
        'parse.cancelled',
      ]);
    });

    it('deletes an ended job, and refuses to delete a running one', async () => {
      const ended = await sdk.parsing.create(JOB);
      const running = await sdk.parsing.create(JOB);
      fake.complete(ended.id);

      expect(await sdk.parsing.delete(ended.id)).toEqual({
        id: ended.id,
        project_id: fake.projectId,
      });
      expect(await refusal(sdk.parsing.get(ended.id))).toBeInstanceOf(NotFoundError);
      expect(await refusal(sdk.parsing.delete(running.id))).toBeInstanceOf(BadRequestError);
    });

    it('lists the versions of every tier the SDK knows, and what latest is', async () => {
      const versions = await sdk.parsing.listVersions();

      for (const tier of PARSE_TIERS) {
        expect(versions[tier].length).toBeGreaterThan(0);
        expect(versions[tier]).toContain(versions.latest[tier]);
      }
    });

    it('keeps saved webhook configurations, never showing their secret', async () => {
      const created = await sdk.webhookConfigs.create({
        webhook_url: `${PUBLIC_BASE}/cb/saved`,
        webhook_events: ['parse.success'],
        webhook_signing_secret: 'saved-secret',
      });
      const updated = await sdk.webhookConfigs.update(created.id, {
        webhook_output_format: 'json',
      });

      expect(created).toMatchObject({
        has_secret: true,
        tenant_type: 'project',
        webhook_url: `${PUBLIC_BASE}/cb/saved`,
        webhook_events: ['parse.success'],
      });
      expect(JSON.stringify(created)).not.toContain('saved-secret');
      expect(updated.webhook_output_format).toBe('json');
      expect(await sdk.webhookConfigs.retrieve(created.id)).toEqual(updated);
      expect((await sdk.webhookConfigs.list()).map((config) => config.id)).toEqual([created.id]);
      await sdk.webhookConfigs.delete(created.id);
      expect(await refusal(sdk.webhookConfigs.retrieve(created.id))).toBeInstanceOf(NotFoundError);
    });

    it('sends a job the events of the saved configurations it names, with their secret', async () => {
      const saved = await sdk.webhookConfigs.create({
        webhook_url: `${PUBLIC_BASE}/cb/saved`,
        webhook_events: ['parse.error'],
        webhook_signing_secret: 'saved-secret',
        webhook_output_format: 'json',
      });
      const { id } = await sdk.parsing.create({
        ...JOB,
        webhook_configuration_ids: [saved.id],
        webhook_configurations: [
          { webhook_url: `${PUBLIC_BASE}/cb/inline`, webhook_events: ['parse.error'] },
        ],
      });

      fake.fail(id, 'The document is encrypted.');
      await fake.callbacksSettled();

      const paths = receiver.received.map((r) => r.path).sort();
      expect(paths).toEqual(['/cb/inline', '/cb/saved']);
      const fromSaved = receiver.received.find((r) => r.path === '/cb/saved');
      expect(JSON.parse(fromSaved?.body ?? '')).toMatchObject({ event_type: 'parse.error' });
      expect(fromSaved?.headers['lc-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
    });
  });

  describe('what the SDK says the API requires or forbids is refused', () => {
    it('refuses a job without tier or without version, 422 "Field required"', async () => {
      const noTier = issues(await refusal(sdk.parsing.create(untyped({ version: 'latest' }))));
      const noVersion = issues(await refusal(sdk.parsing.create(untyped({ tier: 'fast' }))));

      expect(noTier).toContainEqual(
        expect.objectContaining({ type: 'missing', loc: ['body', 'tier'], msg: 'Field required' }),
      );
      expect(noVersion).toContainEqual(
        expect.objectContaining({ type: 'missing', loc: ['body', 'version'] }),
      );
      expect(fake.jobs.size).toBe(0);
    });

    it('refuses an upload whose configuration lacks the version', async () => {
      const found = issues(
        await refusal(
          sdk.parsing.create({
            ...untyped({ tier: 'fast' }),
            upload_file: new File(['%PDF'], 'a.pdf'),
          }),
        ),
      );

      expect(found).toContainEqual(
        expect.objectContaining({ type: 'missing', loc: ['body', 'configuration', 'version'] }),
      );
    });

    it('refuses wrong types, 422 with where and what', async () => {
      const found = issues(
        await refusal(
          sdk.parsing.create(
            untyped({ ...JOB, tier: 7, disable_cache: 'yes', webhook_configurations: {} }),
          ),
        ),
      );

      expect(found.map((issue) => [issue.loc.join('.'), issue.type])).toEqual(
        expect.arrayContaining([
          ['body.tier', 'enum'],
          ['body.disable_cache', 'bool_type'],
          ['body.webhook_configurations', 'list_type'],
        ]),
      );
    });

    it('refuses a tier or a version the API does not have', async () => {
      const tier = issues(await refusal(sdk.parsing.create({ ...JOB, tier: 'premium' })));
      const version = issues(
        await refusal(sdk.parsing.create({ ...JOB, tier: 'fast', version: '2026-09-07' })),
      );

      expect(tier).toEqual([
        expect.objectContaining({
          type: 'enum',
          loc: ['body', 'tier'],
          msg: "Input should be 'fast', 'cost_effective', 'agentic' or 'agentic_plus'",
        }),
      ]);
      expect(version).toEqual([
        expect.objectContaining({ loc: ['body', 'version'], msg: expect.stringMatching(/fast/) }),
      ]);
    });

    it('takes a tier the SDK does not know yet once the API has it', async () => {
      const own = await startLlamaCloudFake({
        dropCallbacks: () => true,
        versions: {
          ...(await sdk.parsing.listVersions()),
          agentic_max: ['2027-01-01'],
        } as unknown as LlamaCloud.ParsingListVersionsResponse,
      });
      try {
        const client = new LlamaCloud({
          apiKey: own.apiKey,
          baseURL: own.baseUrl,
          maxRetries: 0,
          logLevel: 'off',
        });
        const job = await client.parsing.create({ ...JOB, tier: 'agentic_max' });
        expect(job.tier).toBe('agentic_max');
      } finally {
        await own.close();
      }
    });

    it('refuses an output format outside the closed enum', async () => {
      const found = issues(
        await refusal(
          sdk.parsing.create(
            untyped({
              ...JOB,
              webhook_configurations: [{ webhook_url: CALLBACK_URL, webhook_output_format: 'xml' }],
            }),
          ),
        ),
      );

      expect(found).toEqual([
        expect.objectContaining({
          type: 'enum',
          loc: ['body', 'webhook_configurations', 0, 'webhook_output_format'],
          msg: "Input should be 'json' or 'string'",
        }),
      ]);
    });

    it.each([
      ['plain http', 'http://hooks.example.com/cb', /must use https/],
      ['an IPv4 host', 'https://203.0.113.9/cb', /domain name, not an IP/],
      ['an IPv6 host', 'https://[2001:db8::1]/cb', /domain name, not an IP/],
      ['200 characters', `https://hooks.example.com/${'a'.repeat(174)}`, /under 200 characters/],
    ])('refuses a webhook URL with %s, 400', async (_what, url, reason) => {
      const inline = await refusal(
        sdk.parsing.create({ ...JOB, webhook_configurations: [{ webhook_url: url }] }),
      );
      const saved = await refusal(sdk.webhookConfigs.create({ webhook_url: url }));

      for (const error of [inline, saved]) {
        expect(error).toBeInstanceOf(BadRequestError);
        expect((error as BadRequestError).error).toEqual({ detail: expect.stringMatching(reason) });
      }
      expect(fake.jobs.size + fake.webhookConfigs.size).toBe(0);
    });

    it('refuses a job naming a saved webhook configuration that does not exist', async () => {
      const error = await refusal(
        sdk.parsing.create({ ...JOB, webhook_configuration_ids: ['no-such-config'] }),
      );

      expect(error).toBeInstanceOf(BadRequestError);
      expect(fake.jobs.size).toBe(0);
    });

    it('refuses a saved configuration with no events, or one the API does not send', async () => {
      const empty = issues(
        await refusal(sdk.webhookConfigs.create({ webhook_url: CALLBACK_URL, webhook_events: [] })),
      );
      const unknown = issues(
        await refusal(
          sdk.webhookConfigs.create(
            untyped({ webhook_url: CALLBACK_URL, webhook_events: ['parse.done'] }) as never,
          ),
        ),
      );

      expect(empty).toEqual([expect.objectContaining({ loc: ['body', 'webhook_events'] })]);
      expect(unknown).toEqual([
        expect.objectContaining({ type: 'enum', loc: ['body', 'webhook_events', 0] }),
      ]);
    });

    it('refuses a list filter outside the statuses the SDK names', async () => {
      const found = issues(
        await refusal(
          sdk.parsing.list({
            status: 'DONE' as LlamaCloud.ParsingListParams['status'],
          }) as unknown as Promise<unknown>,
        ),
      );

      expect(found).toEqual([expect.objectContaining({ loc: ['query', 'status'] })]);
    });

    it('refuses a wrong API key, 401 AuthenticationError', async () => {
      const stranger = new LlamaCloud({
        apiKey: 'llx-not-the-key',
        baseURL: fake.baseUrl,
        maxRetries: 0,
        logLevel: 'off',
      });

      expect(await refusal(stranger.parsing.create(JOB))).toBeInstanceOf(AuthenticationError);
    });
  });
});
