import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { createLogger } from '@callback-gateway/audit';
import { describe, expect, it, vi } from 'vitest';
import { handleShutdownSignals } from './lifecycle.js';

describe('handleShutdownSignals', () => {
  it('returns the shutdown SIGTERM starts, for other causes, naming the cause', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const exit = vi.fn();
    const target = Object.assign(new EventEmitter(), { exit });
    const close = vi.fn(() => Promise.resolve());
    const shutdown = handleShutdownSignals({
      logger: createLogger({ name: 'test', destination }),
      close,
      target: target as unknown as Pick<NodeJS.Process, 'on' | 'exit'>,
    });
    shutdown('supervisor gone');
    await vi.waitFor(() => expect(exit).toHaveBeenCalledWith(0));
    expect(close).toHaveBeenCalledTimes(1);
    expect(lines.join('')).toContain('supervisor gone: shutting down');
    // A signal after it exits at once instead of closing twice.
    target.emit('SIGTERM');
    expect(exit).toHaveBeenLastCalledWith(1);
    expect(close).toHaveBeenCalledTimes(1);
  });
});
