import { expect } from 'vitest';
import { GatewayClientError } from '../src/errors.js';

/** Awaits a call that must fail with a {@link GatewayClientError}, and returns the error. */
export async function failure(call: Promise<unknown>): Promise<GatewayClientError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GatewayClientError);
  return error as GatewayClientError;
}

/** The token must not appear in the error, however it is printed. */
export function expectNoToken(error: unknown, token: string): void {
  expect(String(error)).not.toContain(token);
  expect(JSON.stringify(error)).not.toContain(token);
  expect((error as Error).stack ?? '').not.toContain(token);
}
