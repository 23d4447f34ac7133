import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isLlamaCloudError, LLAMACLOUD_ERROR_CODES, LlamaCloudError } from './errors.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** Codes in the first column of the table under the README's "Error codes" heading. */
function documentedCodes(): string[] {
  const section = readme.split(/^## /m).find((part) => part.startsWith('Error codes')) ?? '';
  return [...section.matchAll(/^\|\s*`(LLAMACLOUD_[A-Z_]+)`\s*\|/gm)].map((m) => m[1] as string);
}

describe('error codes', () => {
  it('are documented in the README, every one and only those', () => {
    expect(documentedCodes().sort()).toEqual([...LLAMACLOUD_ERROR_CODES].sort());
  });

  it('are unique and prefixed', () => {
    expect(new Set(LLAMACLOUD_ERROR_CODES).size).toBe(LLAMACLOUD_ERROR_CODES.length);
    for (const code of LLAMACLOUD_ERROR_CODES) expect(code).toMatch(/^LLAMACLOUD_[A-Z_]+$/);
  });

  it('keep the cause, status and detail, and are not retryable unless said so', () => {
    const cause = new Error('socket hang up');
    const error = new LlamaCloudError('LLAMACLOUD_NETWORK', 'x', { cause, retryable: true });
    expect(error).toMatchObject({ code: 'LLAMACLOUD_NETWORK', retryable: true, cause });
    const refused = new LlamaCloudError('LLAMACLOUD_INVALID_REQUEST', 'x', {
      status: 400,
      detail: 'bad',
    });
    expect(refused).toMatchObject({ status: 400, detail: 'bad', retryable: false });
    expect(isLlamaCloudError(refused)).toBe(true);
    expect(isLlamaCloudError(new Error('x'))).toBe(false);
  });
});
