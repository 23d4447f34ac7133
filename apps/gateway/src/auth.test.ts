import { describe, expect, it } from 'vitest';
import { SESSION_COOKIE, createAuth, sessionCookie } from './auth.js';

const TOKEN = 'unit-api-token-0123456789';

describe('createAuth', () => {
  const auth = createAuth([TOKEN]);

  it('says whether the caller came with a bearer token or the session cookie', () => {
    expect(auth.request({ headers: { authorization: `Bearer ${TOKEN}` } })).toEqual({
      label: 'token#1',
      via: 'bearer',
    });
    const session = auth.openSession(TOKEN) ?? '';
    expect(auth.request({ headers: { cookie: `a=b; ${SESSION_COOKIE}=${session}` } })).toEqual({
      label: 'token#1',
      via: 'session',
    });
  });

  it('does not fall back to the cookie when a bearer token is wrong', () => {
    const session = auth.openSession(TOKEN) ?? '';
    expect(() =>
      auth.request({
        headers: {
          authorization: 'Bearer wrong-token-0123456789',
          cookie: `${SESSION_COOKIE}=${session}`,
        },
      }),
    ).toThrow(expect.objectContaining({ error: 'unauthorized' }));
  });
});

describe('sessionCookie', () => {
  it('is Secure only when asked, and HttpOnly and SameSite=Strict always', () => {
    expect(sessionCookie({ value: 'v', maxAgeSeconds: 60 }, { secure: true })).toBe(
      'cbgw_session=v; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age=60',
    );
    expect(sessionCookie(undefined, { secure: false })).toBe(
      'cbgw_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0',
    );
  });
});
