import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const readme = readFileSync(`${root}README.md`, 'utf8');
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as {
  scripts: Record<string, string>;
  engines: Record<string, string>;
};

describe('README quick start', () => {
  it('opens with exactly two commands: install-and-start, and test', () => {
    const firstBlock = /^# .+\n\n```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    const commands = firstBlock
      .split('\n')
      .map((line) => line.replace(/#.*$/, '').trim())
      .filter(Boolean);
    expect(commands).toEqual(['npm ci && npm start', 'npm test']);
  });

  it('names scripts that exist, and CI calls the same test command', () => {
    for (const script of ['start', 'test', 'start:gateway', 'start:worker', 'webhook-url']) {
      expect(pkg.scripts[script]).toBeTruthy();
    }
    const ci = readFileSync(`${root}.ci/run`, 'utf8');
    expect(ci).toMatch(/^npm ci\b/m);
    expect(ci).toMatch(/^npm test$/m);
  });

  it('declares the Node.js versions it runs on', () => {
    expect(pkg.engines['node']).toBe('>=20.19.0');
  });
});
