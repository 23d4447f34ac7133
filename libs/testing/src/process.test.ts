import { describe, expect, it } from 'vitest';
import { startProcess } from './process.js';

describe('startProcess', () => {
  it('reads the resident memory of the running process, and none once it exited', async () => {
    const proc = startProcess({
      args: [
        '-e',
        'globalThis.kept = Buffer.alloc(64 * 1024 * 1024, 1); console.log("up"); setInterval(() => {}, 1000)',
      ],
    });
    await proc.waitForLine(/^up$/);
    expect(proc.rssBytes()).toBeGreaterThan(64 * 1024 * 1024);
    await proc.stop();
    expect(proc.rssBytes()).toBeUndefined();
  });
});
