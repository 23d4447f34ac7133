import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WEBHOOK_URL_ERROR_CODES, WebhookUrlError, WebhookUrlResolveError } from './errors.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** Codes in the first column of the table under the README's "Error codes" heading. */
function documentedCodes(): string[] {
  const section = readme.split(/^## /m).find((part) => part.startsWith('Error codes')) ?? '';
  return [...section.matchAll(/^\|\s*`(WEBHOOK_URL_[A-Z_]+)`\s*\|/gm)].map(
    (match) => match[1] as string,
  );
}

describe('error codes', () => {
  it('are documented in the README, every one and only those', () => {
    expect(documentedCodes().sort()).toEqual([...WEBHOOK_URL_ERROR_CODES].sort());
  });

  it('are unique and prefixed', () => {
    expect(new Set(WEBHOOK_URL_ERROR_CODES).size).toBe(WEBHOOK_URL_ERROR_CODES.length);
    for (const code of WEBHOOK_URL_ERROR_CODES) expect(code).toMatch(/^WEBHOOK_URL_[A-Z_]+$/);
  });

  it('keep the cause and say whether a retry may help', () => {
    const cause = new Error('socket hang up');
    const error = new WebhookUrlError('WEBHOOK_URL_DNS_FAILED', 'x', { cause, retryable: true });
    expect(error).toMatchObject({ code: 'WEBHOOK_URL_DNS_FAILED', retryable: true, cause });
    expect(new WebhookUrlError('WEBHOOK_URL_INVALID', 'x').retryable).toBe(false);
  });

  it('map a resolve failure to 503 and list the reasons in the message', () => {
    const error = new WebhookUrlResolveError(
      'WEBHOOK_URL_NO_SOURCE',
      [
        {
          source: 'cloud_config',
          code: 'WEBHOOK_URL_NOT_CONFIGURED',
          reason: 'set PUBLIC_BASE_URL',
          retryable: false,
        },
      ],
      'Nothing.',
    );
    expect(error.httpStatus).toBe(503);
    expect(error.retryable).toBe(false);
    expect(error.message).toContain(
      'cloud_config: WEBHOOK_URL_NOT_CONFIGURED: set PUBLIC_BASE_URL',
    );
  });
});
