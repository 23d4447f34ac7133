import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GATEWAY_ERRORS } from './errors.js';

describe('gateway API errors', () => {
  it('are documented in the README with their status, every one and only those', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const documented = Object.fromEntries(
      [...readme.matchAll(/^\|\s*`([a-z_]+)`\s*\|\s*(\d{3})\s*\|/gm)].map((match) => [
        match[1],
        Number(match[2]),
      ]),
    );
    expect(documented).toEqual(GATEWAY_ERRORS);
  });
});
