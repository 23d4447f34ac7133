import { startRedis } from '@callback-gateway/testing';
import { describe, expect, it } from 'vitest';
import { run, type CliIo } from './cli.js';
import { staticLookup } from './testing.js';

async function cli(argv: string[], env: Record<string, string> = {}, lookup = staticLookup({})) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), lookup };
  const code = await run(argv, env, io);
  const stdout = out.join('\n');
  return {
    code,
    stdout,
    json: (stdout.startsWith('{') ? JSON.parse(stdout) : {}) as Record<string, unknown>,
    stderr: err.join('\n'),
  };
}

describe('the webhook-url command line', () => {
  it('exits 0 with ok:true for a URL that passes the syntax policy', async () => {
    const { code, json } = await cli(['check', 'https://GW.example.com/']);
    expect(code).toBe(0);
    expect(json).toEqual({
      ok: true,
      baseUrl: 'https://gw.example.com',
      host: 'gw.example.com',
      insecure: false,
      verifiedBy: 'syntax',
    });
  });

  it('exits 2 with the code and reason for localhost', async () => {
    const { code, json } = await cli(['check', 'http://localhost:8000']);
    expect(code).toBe(2);
    expect(json).toMatchObject({
      ok: false,
      code: 'WEBHOOK_URL_SCHEME_NOT_ALLOWED',
      reason: expect.stringContaining('https'),
    });
    expect(Object.keys(json)).toEqual(['ok', 'code', 'reason']);
  });

  it('adds the DNS check with --verify dns', async () => {
    const lookup = staticLookup({
      'gw.example.com': ['10.0.0.8'],
      'ok.example.com': ['93.184.215.14'],
    });
    const refused = await cli(['check', 'https://gw.example.com', '--verify', 'dns'], {}, lookup);
    expect(refused).toMatchObject({
      code: 2,
      json: { ok: false, code: 'WEBHOOK_URL_PRIVATE_ADDRESS' },
    });
    const accepted = await cli(['check', '--verify', 'dns', 'https://ok.example.com'], {}, lookup);
    expect(accepted).toMatchObject({ code: 0, json: { ok: true, verifiedBy: 'dns' } });
  });

  it('accepts plain http only with the development switch', async () => {
    expect(
      (await cli(['check', 'http://gw.example.com', '--allow-insecure-http'])).json,
    ).toMatchObject({ ok: true, insecure: true });
    expect(
      (await cli(['check', 'http://gw.example.com'], { WEBHOOK_URL_ALLOW_INSECURE_HTTP: 'true' }))
        .json,
    ).toMatchObject({ ok: true, insecure: true });
  });

  it.each([
    [[]],
    [['frobnicate']],
    [['check']],
    [['check', 'a', 'b']],
    [['check', 'https://x.example.com', '--verify', 'probe']],
    [['resolve', 'extra']],
  ])('exits 2 with WEBHOOK_URL_USAGE for %j', async (argv) => {
    const { code, json, stderr } = await cli(argv);
    expect(code).toBe(2);
    expect(json).toMatchObject({
      ok: false,
      code: 'WEBHOOK_URL_USAGE',
      reason: expect.any(String),
    });
    expect(stderr).toMatch(/usage: webhook-url/);
  });

  it.each([[['--help']], [['-h']], [['help']], [['check', '--help']], [['resolve', '--help']]])(
    'prints the usage alone on stdout and exits 0 for %j',
    async (argv) => {
      const { code, stdout, stderr } = await cli(argv);
      expect(code).toBe(0);
      expect(stdout).toMatch(/^usage: webhook-url check <url>/);
      expect(stdout).toContain('webhook-url resolve');
      expect(stdout).not.toContain('WEBHOOK_URL_USAGE');
      expect(stderr).toBe('');
    },
  );

  it('resolve prints its failure once: on stdout with the reasons, not again on stderr', async () => {
    const noSource = await cli(['resolve'], { WEBHOOK_URL_SOURCES: 'cloud_config,ngrok' });
    const redisAway = await cli(['resolve'], {
      WEBHOOK_URL_SOURCES: 'cloud_config,cache',
      REDIS_URL: 'redis://127.0.0.1:1',
      WEBHOOK_URL_DEADLINE_MS: '300',
    });
    for (const { code, json, stdout, stderr } of [noSource, redisAway]) {
      expect(code).toBe(2);
      const message = String(json['reason']).split('. Reasons:')[0] ?? '';
      expect(message.length).toBeGreaterThan(20);
      expect(`${stdout}\n${stderr}`.split(message)).toHaveLength(2);
      expect(stderr).not.toMatch(/no public base URL/i);
    }
    expect(noSource.json['code']).toBe('WEBHOOK_URL_NO_SOURCE');
    expect(redisAway.json['reasons']).toEqual([
      expect.objectContaining({ source: 'cloud_config', code: 'WEBHOOK_URL_NOT_CONFIGURED' }),
      expect.objectContaining({ source: 'cache' }),
    ]);
  });

  it('resolve exits 2 with every reason when the environment configures no source', async () => {
    const { code, json } = await cli(['resolve'], { WEBHOOK_URL_SOURCES: 'cloud_config,ngrok' });
    expect(code).toBe(2);
    expect(json).toMatchObject({ ok: false, code: 'WEBHOOK_URL_NO_SOURCE' });
    expect(json['reasons']).toEqual([
      expect.objectContaining({ source: 'cloud_config', code: 'WEBHOOK_URL_NOT_CONFIGURED' }),
      expect.objectContaining({ source: 'ngrok', code: 'WEBHOOK_URL_NOT_CONFIGURED' }),
    ]);
  });

  it('resolve prints the URL and source from the environment', async () => {
    const { code, json } = await cli(['resolve'], {
      PUBLIC_BASE_URL: 'https://gw.example.com',
      WEBHOOK_URL_VERIFY: 'syntax',
      WEBHOOK_URL_SOURCES: 'cloud_config',
    });
    expect(code).toBe(0);
    expect(json).toMatchObject({
      ok: true,
      baseUrl: 'https://gw.example.com',
      source: 'cloud_config',
      verifiedBy: 'syntax',
      insecure: false,
    });
  });

  it('resolve names a bad variable', async () => {
    const { code, json } = await cli(['resolve'], { WEBHOOK_URL_DEADLINE_MS: 'soon' });
    expect(code).toBe(2);
    expect(json).toMatchObject({
      code: 'WEBHOOK_URL_CONFIG_INVALID',
      reason: expect.stringContaining('WEBHOOK_URL_DEADLINE_MS'),
    });
  });

  it('resolve names a REDIS_URL the apps would refuse, without its credentials', async () => {
    const { code, json } = await cli(['resolve'], {
      WEBHOOK_URL_SOURCES: 'cache',
      REDIS_URL: 'unix://app:s3cretpass@localhost/run/redis.sock',
    });
    expect(code).toBe(2);
    expect(json).toMatchObject({
      code: 'WEBHOOK_URL_CONFIG_INVALID',
      reason: expect.stringContaining('REDIS_URL: a unix socket URL has no host or credentials'),
    });
    expect(JSON.stringify(json)).not.toContain('s3cretpass');
  });

  it('resolve reads the URL cache over a Redis Unix socket (REDIS_URL=unix://...)', async () => {
    const redis = await startRedis({ unixSocket: true });
    try {
      const env = { WEBHOOK_URL_SOURCES: 'cache', WEBHOOK_URL_VERIFY: 'dns' };
      // Reached: an empty cache is a miss, not an unavailable cache.
      const reached = await cli(['resolve'], { ...env, REDIS_URL: redis.socketUrl ?? '' });
      expect(reached.code).toBe(2);
      expect(reached.json['reasons']).toEqual([
        expect.objectContaining({ source: 'cache', code: 'WEBHOOK_URL_CACHE_MISS' }),
      ]);
      const away = await cli(['resolve'], {
        ...env,
        REDIS_URL: `unix://${redis.dataDir}/nothing-here.sock`,
      });
      expect(away.json['reasons']).toEqual([
        expect.objectContaining({ source: 'cache', code: 'WEBHOOK_URL_CACHE_UNAVAILABLE' }),
      ]);
    } finally {
      await redis.close();
    }
  });
});
