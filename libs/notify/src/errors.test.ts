import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NOTIFY_ERROR_CODES } from './errors.js';

describe('notify error codes', () => {
  it('are documented in the README, every one and only those', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const documented = [...readme.matchAll(/^\|\s*`(NOTIFY_[A-Z_]+)`\s*\|/gm)].map(
      (match) => match[1],
    );
    expect([...documented].sort()).toEqual([...NOTIFY_ERROR_CODES].sort());
  });
});
