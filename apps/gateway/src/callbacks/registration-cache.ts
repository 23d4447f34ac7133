import {
  isCallbackToken,
  hashToken,
  type Registration,
  type RegistrationStore,
} from '@callback-gateway/store';

/** What the callback route needs of a registration; none of it changes after creation. */
export interface CallbackTarget {
  id: string;
  tokenHash: string;
  signingSecret: string;
  requireSignature: boolean;
  expiresAtMs: number;
}

/** Options for {@link createRegistrationCache}. */
export interface RegistrationCacheOptions {
  registrations: Pick<RegistrationStore, 'findByToken'>;
  /** How long a registration found by its token is kept. @defaultValue 60_000 */
  ttlMs?: number;
  /** Most registrations kept (the oldest go first). @defaultValue 50_000 */
  maxEntries?: number;
  /** @defaultValue `() => Date.now()` */
  now?: () => number;
}

/** Callback tokens' registrations, kept in memory. */
export interface RegistrationCache {
  /** The registration of a callback token, or undefined for an unknown or expired one. Throws
   * when the store cannot be reached. */
  find(token: string): Promise<CallbackTarget | undefined>;
  /** Forgets a token's registration (the store said it is gone). */
  forget(tokenHash: string): void;
}

/**
 * A cache of registrations by callback token, so a callback costs no Redis round trip before
 * its intake. Safe because what it keeps never changes after a registration is created (its id,
 * signing secret, signature requirement and expiry), and because the intake checks, in the
 * same atomic step that stores the callback, that the token still exists: a token that expired
 * or was revoked meanwhile is refused there, and forgotten here. Unknown tokens are not
 * cached (each is asked of Redis; the failed-auth limit and the token's 256 bits bound that).
 */
export function createRegistrationCache(options: RegistrationCacheOptions): RegistrationCache {
  const ttlMs = options.ttlMs ?? 60_000;
  const maxEntries = options.maxEntries ?? 50_000;
  const now = options.now ?? (() => Date.now());
  const entries = new Map<string, { target: CallbackTarget; until: number }>();

  const remember = (tokenHash: string, registration: Registration): CallbackTarget => {
    const target: CallbackTarget = {
      id: registration.id,
      tokenHash,
      signingSecret: registration.signingSecret,
      requireSignature: registration.requireSignature,
      expiresAtMs: Date.parse(registration.expiresAt),
    };
    if (entries.size >= maxEntries) {
      const oldest = entries.keys().next();
      if (!oldest.done) entries.delete(oldest.value);
    }
    entries.set(tokenHash, { target, until: now() + ttlMs });
    return target;
  };

  return {
    async find(token) {
      if (!isCallbackToken(token)) return undefined;
      const tokenHash = hashToken(token);
      const at = now();
      const cached = entries.get(tokenHash);
      if (cached && cached.until > at) {
        if (cached.target.expiresAtMs <= at) return undefined;
        return cached.target;
      }
      entries.delete(tokenHash);
      const registration = await options.registrations.findByToken(token);
      if (!registration) return undefined;
      const target = remember(tokenHash, registration);
      return target.expiresAtMs <= at ? undefined : target;
    },
    forget(tokenHash) {
      entries.delete(tokenHash);
    },
  };
}
