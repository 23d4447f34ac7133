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

  it('declares one Node.js floor: package.json, .nvmrc (what CI runs) and the README agree', () => {
    const floor = /^>=(\d+)\.(\d+)\.0$/.exec(pkg.engines['node'] ?? '');
    expect(floor, `engines.node is ${pkg.engines['node']}`).not.toBeNull();
    const [, major, minor] = floor ?? [];
    expect(readFileSync(`${root}.nvmrc`, 'utf8').trim()).toBe(major);
    expect(readme).toContain(`Node.js ≥ ${major}.${minor}`);
  });
});
