import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));

describe('npm run demo', () => {
  it('takes four documents end to end (dropped, duplicated, failed once) and prints the tally', async () => {
    const child = spawn(process.execPath, ['scripts/demo.mjs'], {
      cwd: root,
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', DEMO_EXIT: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, output).toBe(0);
    expect(output).toContain('4 of 4 documents reached the pipeline, each once (by webhook-id)');
    expect(output).toMatch(/duplicates answered 200 \.+ 1/);
    expect(output).toMatch(/recovered by reconciliation \.+ 1/);
    expect(output).toContain('doc-2 delivered, signature verified (parse.success, reconciled)');
    expect(output).toContain('doc-4 arrived, but the pipeline answers 500');
  });
});
