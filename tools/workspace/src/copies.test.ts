import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { REGISTRATION_STATES as CLIENT_REGISTRATION_STATES } from '@callback-gateway/client';
import { REGISTRATION_STATES } from '@callback-gateway/store';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));

/** What follows, in `path`, the line that names `twin` and this test: the copied part. */
function copiedPart(path: string, twin: string): string {
  const text = readFileSync(`${root}${path}`, 'utf8');
  const marker = `// Twin of the end of ${twin}, held equal by tools/workspace/src/copies.test.ts.\n`;
  const at = text.indexOf(marker);
  expect(at, `${path} marks where its copy of ${twin} starts`).toBeGreaterThanOrEqual(0);
  return text.slice(at + marker.length);
}

// Some packages stay free of project imports (they are published as they are), so a fact they
// share with the rest of the tree is a copy; these tests keep each copy equal to its twin.
describe('copies of one definition', () => {
  it('keeps the HTTP helpers of libs/client and libs/llamacloud the same, text for text', () => {
    const client = copiedPart('libs/client/src/http.ts', 'libs/llamacloud/src/http.ts');
    const llamacloud = copiedPart('libs/llamacloud/src/http.ts', 'libs/client/src/http.ts');
    for (const name of ['parseRetryAfter', 'describeCause', 'redact', 'redactDeep']) {
      expect(client).toMatch(new RegExp(`^(export )?function ${name}\\b`, 'm'));
    }
    expect(llamacloud).toBe(client);
  });

  it('gives libs/client the registration states libs/store keeps, in the same order', () => {
    expect(CLIENT_REGISTRATION_STATES).toEqual(REGISTRATION_STATES);
  });
});
