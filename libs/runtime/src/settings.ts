import { isIP } from 'node:net';
import { z } from 'zod';

/** Raised when settings are invalid: one message per bad variable, each naming it. */
export class SettingsError extends Error {
  readonly code = 'SETTINGS_INVALID';
  constructor(readonly problems: readonly string[]) {
    super(
      `Invalid settings (${problems.length}): ${problems.join('; ')}. Every setting is described in the README under "Configuration".`,
    );
    this.name = 'SettingsError';
  }
}

const show = (value: unknown) => (value === undefined ? 'nothing' : JSON.stringify(value));

/** An integer variable within bounds. */
export function envInt(options: { default: number; min?: number; max?: number }) {
  return envOptionalInt(options).transform((value): number => value ?? options.default);
}

/** An optional integer variable within bounds (`undefined` when unset: the caller decides). */
export function envOptionalInt(options: { min?: number; max?: number }) {
  const min = options.min ?? 0;
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  const message = `expected an integer from ${min} to ${max}`;
  return z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx): number | undefined => {
      if (raw === undefined || raw === '') return undefined;
      const value = Number(raw);
      if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
        ctx.addIssue({ code: 'custom', message: `${message}, got ${show(raw)}` });
        return z.NEVER;
      }
      return value;
    });
}

/** A boolean variable: `true/false`, `1/0`, `yes/no`, `on/off`. */
export function envBool(options: { default: boolean }) {
  return z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx) => {
      if (raw === undefined || raw === '') return options.default;
      const value = raw.toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(value)) return true;
      if (['false', '0', 'no', 'off'].includes(value)) return false;
      ctx.addIssue({ code: 'custom', message: `expected true or false, got ${show(raw)}` });
      return z.NEVER;
    });
}

/** One of a fixed set of words. */
export function envEnum<const T extends readonly [string, ...string[]]>(
  values: T,
  options: { default: T[number] },
) {
  return z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx): T[number] => {
      if (raw === undefined || raw === '') return options.default;
      if ((values as readonly string[]).includes(raw)) return raw as T[number];
      ctx.addIssue({
        code: 'custom',
        message: `expected one of ${values.join(', ')}, got ${show(raw)}`,
      });
      return z.NEVER;
    });
}

/** A word checked by `check` (which says what is wrong, or nothing). */
export function envString(options: {
  default: string;
  check: (value: string) => string | undefined;
}) {
  return z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx): string => {
      if (raw === undefined || raw === '') return options.default;
      const problem = options.check(raw);
      if (problem === undefined) return raw;
      ctx.addIssue({ code: 'custom', message: `${problem}, got ${show(raw)}` });
      return z.NEVER;
    });
}

/** A comma-separated list (empty items dropped); optionally each item validated. */
export function envList(
  options: { default?: readonly string[]; item?: (item: string) => string | undefined } = {},
) {
  return z
    .string()
    .optional()
    .transform((raw, ctx): string[] => {
      if (raw === undefined || raw.trim() === '') return [...(options.default ?? [])];
      const items = raw
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '');
      for (const item of items) {
        const problem = options.item?.(item);
        if (problem) ctx.addIssue({ code: 'custom', message: `${problem} (item ${show(item)})` });
      }
      return items;
    });
}

/** A URL (or a list of them) as shown in messages: user, password and `password=`/`username=`
 * values masked. */
export function maskUrlCredentials(value: string): string {
  return value
    .replace(/\/\/[^/?#\s,]*@/g, '//***@')
    .replace(/([?&](?:password|username)=)[^&#]*/gi, '$1***');
}

function checkUrl(value: string, protocols: readonly string[]): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `expected a URL, got ${show(maskUrlCredentials(value))}`;
  }
  const scheme = url.protocol.replace(/:$/, '');
  if (!protocols.includes(scheme)) {
    return `expected a ${protocols.join(' or ')} URL, got ${show(scheme)}`;
  }
  return scheme === 'unix' ? unixSocketProblem(url) : undefined;
}

const UNIX_SOCKET_FORM = 'unix:///path/to/redis.sock, optionally ?db=N&username=...&password=...';
const UNIX_QUERY_KEYS = new Set(['db', 'username', 'password']);

/** What is wrong with a `unix:` URL, if anything: only the form {@link UNIX_SOCKET_FORM}. */
function unixSocketProblem(url: URL): string | undefined {
  if (url.host !== '' || url.username !== '' || url.password !== '') {
    return `a unix socket URL has no host or credentials before the path (credentials go in ?username= and ?password=): ${UNIX_SOCKET_FORM}`;
  }
  if (!url.pathname.startsWith('/') || url.pathname === '/' || url.hash !== '') {
    return `expected ${UNIX_SOCKET_FORM}`;
  }
  for (const [key, value] of url.searchParams) {
    if (!UNIX_QUERY_KEYS.has(key))
      return `unknown parameter "${key}" (expected ${UNIX_SOCKET_FORM})`;
    if (key === 'db' && !/^\d{1,5}$/.test(value)) return 'db must be a database number';
  }
  return undefined;
}

/** An optional URL with one of the given schemes. */
export function envOptionalUrl(options: { protocols: readonly string[] }) {
  return z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx): string | undefined => {
      if (raw === undefined || raw === '') return undefined;
      const problem = checkUrl(raw, options.protocols);
      if (problem) {
        ctx.addIssue({ code: 'custom', message: problem });
        return z.NEVER;
      }
      return raw;
    });
}

/** A URL with one of the given schemes, and a default. */
export function envUrl(options: { default: string; protocols: readonly string[] }) {
  return z
    .string()
    .trim()
    .optional()
    .transform((raw, ctx): string => {
      const value = raw === undefined || raw === '' ? options.default : raw;
      const problem = checkUrl(value, options.protocols);
      if (problem) {
        ctx.addIssue({ code: 'custom', message: problem });
        return z.NEVER;
      }
      return value;
    });
}

/** An optional secret string (never echoed in messages). */
export function envSecret(options: { minLength?: number } = {}) {
  const minLength = options.minLength ?? 1;
  return z
    .string()
    .optional()
    .transform((raw, ctx): string | undefined => {
      if (raw === undefined || raw.trim() === '') return undefined;
      if (raw.trim().length < minLength) {
        ctx.addIssue({ code: 'custom', message: `must be at least ${minLength} characters long` });
        return z.NEVER;
      }
      return raw.trim();
    });
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] ?? 0;
      row[j] = Math.min(
        current + 1,
        (row[j - 1] ?? 0) + 1,
        previous + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      previous = current;
    }
  }
  return row[b.length] ?? 0;
}

/** Options for {@link parseSettings}. */
export interface ParseSettingsOptions {
  /**
   * Variables starting with one of these prefixes must be known to the schema: a typo such as
   * `GATEWAY_PROT` is refused (with a suggestion) instead of being silently ignored.
   */
  ownedPrefixes?: readonly string[];
  /** Variables with an owned prefix that belong to another process and are accepted as is. */
  alsoKnown?: readonly string[];
  /** Checks across variables, run once each variable is valid; returns problems (`NAME: ...`). */
  check?: (settings: never) => readonly string[];
}

/**
 * Parses an environment record once, at the edge. Returns the frozen settings, or throws a
 * {@link SettingsError} listing every bad variable by name.
 */
export function parseSettings<S extends z.ZodObject>(
  schema: S,
  env: Readonly<Record<string, string | undefined>>,
  options: ParseSettingsOptions = {},
): Readonly<z.output<S>> {
  const known = new Set([...Object.keys(schema.shape), ...(options.alsoKnown ?? [])]);
  const problems: string[] = [];
  for (const name of Object.keys(env)) {
    if (known.has(name)) continue;
    if (!(options.ownedPrefixes ?? []).some((prefix) => name.startsWith(prefix))) continue;
    const suggestion = [...known]
      .map((candidate) => ({ candidate, distance: levenshtein(name, candidate) }))
      .sort((a, b) => a.distance - b.distance)[0];
    problems.push(
      `${name}: unknown setting${suggestion && suggestion.distance <= 3 ? `; did you mean ${suggestion.candidate}?` : ''}`,
    );
  }
  const input: Record<string, string | undefined> = {};
  for (const name of Object.keys(schema.shape)) input[name] = env[name];
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = issue.path.map(String).join('.') || 'settings';
      problems.push(
        issue.message.startsWith(`${name}:`) ? issue.message : `${name}: ${issue.message}`,
      );
    }
  }
  if (problems.length > 0 || !parsed.success) throw new SettingsError(problems);
  const crossProblems = options.check?.(parsed.data as never) ?? [];
  if (crossProblems.length > 0) throw new SettingsError(crossProblems);
  return Object.freeze(parsed.data) as Readonly<z.output<S>>;
}

/**
 * One `OUTBOUND_ALLOW` entry, parsed: what it lets through, and on which port (any when
 * `port` is undefined).
 */
export type AllowEntry =
  | { kind: 'host'; name: string; port: number | undefined }
  | { kind: 'suffix'; suffix: string; port: number | undefined }
  | { kind: 'address'; address: string; family: 4 | 6; port: number | undefined }
  | {
      kind: 'network';
      address: string;
      bits: number;
      family: 4 | 6;
      port: number | undefined;
    };

const HOST_NAME = /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const ENTRY_FORMS =
  'expected a host name, an IP address or a CIDR block, with an optional :port (pipeline.internal, *.corp.example, 127.0.0.1:8443, 10.0.0.0/8:443, [fd00::1]:8443, [fd00::/8]:443)';

/**
 * Parses one `OUTBOUND_ALLOW` entry: a host name (`pipeline.internal`, `*.corp.example`), an IP
 * address, or a CIDR block (`10.0.0.0/8`, `fd00::/8`), each with an optional port
 * (`127.0.0.1:8443`, `10.0.0.0/8:443`; IPv6 in brackets: `[fd00::1]:8443`, `[fd00::/8]:443`), so
 * allowing one local pipeline does not also allow every other service on its host. Returns the
 * entry, or the problem in words.
 */
export function parseAllowEntry(item: string): AllowEntry | string {
  let body = item.trim();
  let port: number | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(body);
  if (bracketed) {
    body = bracketed[1] ?? '';
    if (bracketed[2] !== undefined) port = Number(bracketed[2]);
    if (isIP(body.split('/')[0] ?? '') !== 6) return ENTRY_FORMS;
  } else if (isIP(body.split('/')[0] ?? '') !== 6) {
    const colon = body.lastIndexOf(':');
    if (colon >= 0) {
      const digits = body.slice(colon + 1);
      if (!/^\d{1,5}$/.test(digits)) return ENTRY_FORMS;
      port = Number(digits);
      body = body.slice(0, colon);
    }
  }
  if (port !== undefined && (port < 1 || port > 65_535)) {
    return 'expected a port from 1 to 65535 after the colon';
  }
  const [address, bits, extra] = body.split('/');
  if (extra !== undefined || !address) return ENTRY_FORMS;
  const family = isIP(address);
  if (bits !== undefined) {
    const max = family === 4 ? 32 : family === 6 ? 128 : -1;
    if (max < 0 || !/^\d{1,3}$/.test(bits) || Number(bits) > max) {
      return 'expected a CIDR block such as 10.0.0.0/8 or fd00::/8';
    }
    return { kind: 'network', address, bits: Number(bits), family: family as 4 | 6, port };
  }
  if (family !== 0) return { kind: 'address', address, family: family as 4 | 6, port };
  if (address.startsWith('*.') && HOST_NAME.test(address.slice(2))) {
    return { kind: 'suffix', suffix: address.slice(1).toLowerCase(), port };
  }
  if (HOST_NAME.test(address)) {
    return { kind: 'host', name: address.toLowerCase().replace(/\.$/, ''), port };
  }
  return ENTRY_FORMS;
}

/**
 * Checks one `OUTBOUND_ALLOW` entry (see {@link parseAllowEntry}). Returns the problem, or
 * undefined.
 */
export function checkHostOrCidr(item: string): string | undefined {
  const entry = parseAllowEntry(item);
  return typeof entry === 'string' ? entry : undefined;
}
