import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { createLogger } from '@callback-gateway/audit';
import { describe, expect, it, vi } from 'vitest';
import { watchSupervisor } from './supervisor.js';

function logger() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, logger: createLogger({ name: 'test', level: 'info', destination }) };
}

describe('watchSupervisor', () => {
  it('shuts down once the IPC channel to the supervisor closes, and says why', () => {
    const send = vi.fn();
    const target = Object.assign(new EventEmitter(), { channel: {}, send });
    const onGone = vi.fn();
    const log = logger();
    const listening = { process: 'gateway', url: 'http://127.0.0.1:8080' };
    expect(watchSupervisor({ logger: log.logger, onGone, target, listening })).toBe(true);
    expect(send).toHaveBeenCalledWith({ type: 'listening', ...listening });
    expect(onGone).not.toHaveBeenCalled();
    target.emit('disconnect');
    expect(onGone).toHaveBeenCalledTimes(1);
    expect(log.lines.join('')).toContain('the supervisor that started this process is gone');
  });

  it('leaves a process started without an IPC channel alone', () => {
    const target = new EventEmitter();
    const onGone = vi.fn();
    expect(watchSupervisor({ logger: logger().logger, onGone, target })).toBe(false);
    target.emit('disconnect');
    expect(onGone).not.toHaveBeenCalled();
  });
});
