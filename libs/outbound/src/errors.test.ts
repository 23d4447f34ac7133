import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OUTBOUND_ERROR_CODES } from './policy.js';

describe('outbound error codes', () => {
  it('are documented in the README, every one and only those', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const documented = [...readme.matchAll(/^\|\s*`(OUTBOUND_[A-Z_]+)`\s*\|/gm)].map(
      (match) => match[1],
    );
    expect([...documented].sort()).toEqual([...OUTBOUND_ERROR_CODES].sort());
  });
});
