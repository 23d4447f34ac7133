import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { SETTING_NAMES } from './setting-names.js';
import {
  SettingsError,
  checkHostOrCidr,
  parseAllowEntry,
  envBool,
  envEnum,
  envInt,
  envList,
  envOptionalInt,
  envOptionalUrl,
  envSecret,
  envString,
  envUrl,
  maskUrlCredentials,
  parseSettings,
} from './settings.js';

const schema = z.object({
  GATEWAY_PORT: envInt({ default: 8080, min: 0, max: 65_535 }),
  GATEWAY_DEBUG: envBool({ default: false }),
  GATEWAY_MODE: envEnum(['a', 'b'], { default: 'a' }),
  GATEWAY_LIST: envList({ item: (item) => (item.length < 3 ? 'too short' : undefined) }),
  REDIS_URL: envUrl({ default: 'redis://127.0.0.1:6379', protocols: ['redis', 'rediss'] }),
  PUBLIC_BASE_URL: envOptionalUrl({ protocols: ['https'] }),
  GATEWAY_SECRET: envSecret({ minLength: 8 }),
  GATEWAY_WORD: envString({
    default: 'plain',
    check: (value) => (/^[a-z]+$/.test(value) ? undefined : 'expected lowercase letters'),
  }),
});

function problems(env: Record<string, string>): string[] {
  try {
    parseSettings(schema, env, { ownedPrefixes: ['GATEWAY_'] });
  } catch (error) {
    if (error instanceof SettingsError) return [...error.problems];
    throw error;
  }
  return [];
}

describe('parseSettings', () => {
  it('applies every default when nothing is set, and freezes the result', () => {
    const settings = parseSettings(schema, {});
    expect(settings).toEqual({
      GATEWAY_PORT: 8080,
      GATEWAY_DEBUG: false,
      GATEWAY_MODE: 'a',
      GATEWAY_LIST: [],
      REDIS_URL: 'redis://127.0.0.1:6379',
      PUBLIC_BASE_URL: undefined,
      GATEWAY_SECRET: undefined,
      GATEWAY_WORD: 'plain',
    });
    expect(Object.isFrozen(settings)).toBe(true);
  });

  it('parses set values', () => {
    const settings = parseSettings(schema, {
      GATEWAY_PORT: '0',
      GATEWAY_DEBUG: 'yes',
      GATEWAY_MODE: 'b',
      GATEWAY_LIST: ' abc, ,defg ',
      REDIS_URL: 'rediss://:pw@redis.example.com:6380',
      PUBLIC_BASE_URL: 'https://hooks.example.com',
      GATEWAY_SECRET: 'long-enough',
      GATEWAY_WORD: ' fancy ',
    });
    expect(settings.GATEWAY_PORT).toBe(0);
    expect(settings.GATEWAY_WORD).toBe('fancy');
    expect(settings.GATEWAY_DEBUG).toBe(true);
    expect(settings.GATEWAY_MODE).toBe('b');
    expect(settings.GATEWAY_LIST).toEqual(['abc', 'defg']);
    expect(settings.PUBLIC_BASE_URL).toBe('https://hooks.example.com');
  });

  it('names every bad variable with what was expected', () => {
    expect(
      problems({
        GATEWAY_PORT: '80.5',
        GATEWAY_DEBUG: 'maybe',
        GATEWAY_MODE: 'c',
        GATEWAY_LIST: 'ab,abcd',
        REDIS_URL: 'http://x',
        PUBLIC_BASE_URL: 'not a url',
        GATEWAY_SECRET: 'short',
        GATEWAY_WORD: 'Fancy',
      }),
    ).toEqual([
      'GATEWAY_PORT: expected an integer from 0 to 65535, got "80.5"',
      'GATEWAY_DEBUG: expected true or false, got "maybe"',
      'GATEWAY_MODE: expected one of a, b, got "c"',
      'GATEWAY_LIST: too short (item "ab")',
      'REDIS_URL: expected a redis or rediss URL, got "http"',
      'PUBLIC_BASE_URL: expected a URL, got "not a url"',
      'GATEWAY_SECRET: must be at least 8 characters long',
      'GATEWAY_WORD: expected lowercase letters, got "Fancy"',
    ]);
  });

  it('takes a Redis Unix socket only as unix:///path with db, username and password parameters', () => {
    const socketSchema = z.object({
      REDIS_URL: envUrl({ default: 'redis://127.0.0.1:6379', protocols: ['redis', 'unix'] }),
    });
    const redisUrl = (value: string) => {
      try {
        return parseSettings(socketSchema, { REDIS_URL: value }).REDIS_URL;
      } catch (error) {
        if (error instanceof SettingsError) return error.problems.join('; ');
        throw error;
      }
    };
    for (const good of [
      'unix:///run/redis/redis.sock',
      'unix:///tmp/r.sock?db=2&username=app&password=s3cret',
    ]) {
      expect(redisUrl(good)).toBe(good);
    }
    // Forms ioredis would read as another path (leaking credentials into error messages), or
    // not read at all.
    expect(redisUrl('unix://user:s3cret@localhost/run/redis.sock')).toMatch(
      /^REDIS_URL: a unix socket URL has no host or credentials/,
    );
    expect(redisUrl('unix://localhost/run/redis.sock')).toMatch(/no host or credentials/);
    expect(redisUrl('unix:relative.sock')).toMatch(/expected unix:\/\/\/path/);
    expect(redisUrl('unix:///')).toMatch(/expected unix:\/\/\/path/);
    expect(redisUrl('unix:///r.sock?timeout=5')).toMatch(/unknown parameter "timeout"/);
    expect(redisUrl('unix:///r.sock?db=two')).toMatch(/db must be a database number/);
    expect(redisUrl('unix://user:s3cret@localhost/r.sock')).not.toContain('s3cret');
  });

  it('never echoes the credentials of a URL it cannot read', () => {
    const message = problems({ REDIS_URL: 'redis://:s3cret@ho st:6379' }).join(' ');
    expect(message).toContain('REDIS_URL: expected a URL');
    expect(message).not.toContain('s3cret');
    expect(maskUrlCredentials('unix://:pw@/x.sock?db=1&password=pw2')).toBe(
      'unix://***@/x.sock?db=1&password=***',
    );
    // Every URL of a list.
    expect(maskUrlCredentials('http://a:b@h1/x,https://c:d@h2, http://h3')).toBe(
      'http://***@h1/x,https://***@h2, http://h3',
    );
  });

  it('reads an optional integer as undefined when unset, and checks its bounds when set', () => {
    const optional = z.object({ GATEWAY_PORT: envOptionalInt({ min: 10, max: 20 }) });
    expect(parseSettings(optional, {}).GATEWAY_PORT).toBeUndefined();
    expect(parseSettings(optional, { GATEWAY_PORT: '15' }).GATEWAY_PORT).toBe(15);
    expect(() => parseSettings(optional, { GATEWAY_PORT: '9' })).toThrow(
      /GATEWAY_PORT: expected an integer from 10 to 20, got "9"/,
    );
  });

  it('never echoes a secret value in its messages', () => {
    const message = problems({ GATEWAY_SECRET: 'abc' }).join(' ');
    expect(message).not.toContain('abc');
  });

  it('refuses unknown variables with an owned prefix and suggests the closest name', () => {
    expect(problems({ GATEWAY_PROT: '1', GATEWAY_ZZZZZZZZZZ: '1', OTHER_THING: '1' })).toEqual([
      'GATEWAY_PROT: unknown setting; did you mean GATEWAY_PORT?',
      'GATEWAY_ZZZZZZZZZZ: unknown setting',
    ]);
  });
});

describe('the list of settings', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const documented = [...readme.matchAll(/^\|\s*`([A-Z][A-Z0-9_]+)`\s*\|/gm)].map(
    (match) => match[1],
  );

  it('is documented in the README, each name with its default, and nothing else is', () => {
    expect([...documented].sort()).toEqual([...SETTING_NAMES].sort());
  });
});

describe('parseAllowEntry', () => {
  it('reads the port of each form, and none where there is none', () => {
    expect(parseAllowEntry('10.0.0.0/8:443')).toEqual({
      kind: 'network',
      address: '10.0.0.0',
      bits: 8,
      family: 4,
      port: 443,
    });
    expect(parseAllowEntry('[fd00::1]:8443')).toEqual({
      kind: 'address',
      address: 'fd00::1',
      family: 6,
      port: 8443,
    });
    expect(parseAllowEntry('fd00::1')).toMatchObject({ kind: 'address', port: undefined });
    expect(parseAllowEntry('*.Corp.example')).toEqual({
      kind: 'suffix',
      suffix: '.corp.example',
      port: undefined,
    });
  });
});

describe('checkHostOrCidr', () => {
  it('accepts host names, wildcards, addresses and CIDR blocks', () => {
    for (const item of [
      'pipeline.internal',
      '*.corp.example',
      'localhost',
      '10.0.0.8',
      '10.0.0.0/8',
      'fd00::/8',
      '::1',
      'pipeline.internal:9000',
      '*.corp.example:443',
      '127.0.0.1:8443',
      '10.0.0.0/8:443',
      '[fd00::1]:8443',
      '[fd00::/8]:443',
      '[::1]',
    ]) {
      expect(checkHostOrCidr(item)).toBeUndefined();
    }
  });

  it('refuses malformed entries', () => {
    for (const item of [
      '10.0.0.0/33',
      'fd00::/129',
      'host/8',
      'a/b/c',
      'bad_host!',
      '-x.example',
      '',
      '127.0.0.1:0',
      '127.0.0.1:70000',
      'host:port',
      'fd00::1:8443x',
      '[pipeline.internal]:80',
    ]) {
      expect(checkHostOrCidr(item)).toBeTypeOf('string');
    }
  });
});
