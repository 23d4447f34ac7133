const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;

const isSpace = (code: number) => code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;

function skipSpace(text: string, at: number): number {
  while (at < text.length && isSpace(text.charCodeAt(at))) at++;
  return at;
}

/** The index just past the string literal that opens at `at`. */
function skipString(text: string, at: number): number {
  let i = at + 1;
  for (;;) {
    const close = text.indexOf('"', i);
    if (close < 0) return text.length;
    // A quote is escaped when an odd number of backslashes precede it.
    let slashes = 0;
    while (text.charCodeAt(close - 1 - slashes) === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return close + 1;
    i = close + 1;
  }
}

/** The index just past the value that starts at `at` (iterative: any depth). */
function skipValue(text: string, at: number): number {
  const first = text.charCodeAt(at);
  if (first === QUOTE) return skipString(text, at);
  if (first !== OPEN_BRACE && first !== OPEN_BRACKET) {
    let i = at;
    for (; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code === COMMA || code === CLOSE_BRACE || code === CLOSE_BRACKET || isSpace(code)) break;
    }
    return i;
  }
  let depth = 0;
  let i = at;
  while (i < text.length) {
    const code = text.charCodeAt(i);
    if (code === QUOTE) {
      i = skipString(text, i);
      continue;
    }
    if (code === OPEN_BRACE || code === OPEN_BRACKET) depth++;
    else if ((code === CLOSE_BRACE || code === CLOSE_BRACKET) && --depth === 0) return i + 1;
    i++;
  }
  return i;
}

/** Where the value of `key` in the object opening at `at` starts and ends (the last one, as
 * `JSON.parse` keeps the last of repeated keys), or undefined when the object has none. */
function memberSpan(text: string, at: number, key: string): [number, number] | undefined {
  if (text.charCodeAt(at) !== OPEN_BRACE) return undefined;
  let found: [number, number] | undefined;
  let i = skipSpace(text, at + 1);
  while (i < text.length && text.charCodeAt(i) === QUOTE) {
    const keyEnd = skipString(text, i);
    let name = text.slice(i + 1, keyEnd - 1);
    if (name.includes('\\')) name = JSON.parse(text.slice(i, keyEnd)) as string;
    // Past the key, the colon (the text is valid JSON), then the value.
    const valueStart = skipSpace(text, skipSpace(text, keyEnd) + 1);
    const valueEnd = skipValue(text, valueStart);
    if (name === key) found = [valueStart, valueEnd];
    i = skipSpace(text, valueEnd);
    if (text.charCodeAt(i) !== COMMA) break;
    i = skipSpace(text, i + 1);
  }
  return found;
}

/**
 * The source text of the value at `path` (keys of nested objects, from the root) in `json`,
 * which must be valid JSON whose root is an object; undefined when there is no such value.
 * `JSON.parse` turns numbers into doubles, so two ids of more than 15 digits can come out
 * equal: this gives their digits as they were sent.
 */
export function jsonSourceText(json: string, path: readonly string[]): string | undefined {
  let span: [number, number] | undefined = [skipSpace(json, 0), json.length];
  for (const key of path) {
    span = memberSpan(json, span[0], key);
    if (!span) return undefined;
  }
  return json.slice(span[0], span[1]);
}
