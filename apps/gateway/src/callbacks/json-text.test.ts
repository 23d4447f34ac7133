import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonSourceText } from './json-text.js';

describe('jsonSourceText', () => {
  it('gives the digits of a number as they were sent, not as a double', () => {
    expect(jsonSourceText('{"event_id": 12345678901234567891}', ['event_id'])).toBe(
      '12345678901234567891',
    );
    expect(jsonSourceText('{"a":1,"event_id":-1.50e+3 ,"b":2}', ['event_id'])).toBe('-1.50e+3');
    expect(jsonSourceText('{"data":{"job_id":9007199254740993}}', ['data', 'job_id'])).toBe(
      '9007199254740993',
    );
  });

  it('reads only the member at the path, the last one when a key repeats, as JSON.parse does', () => {
    const text = JSON.stringify({
      note: '"event_id": 1, {"event_id": 2}',
      nested: { event_id: 3, list: [{ event_id: 4 }, '}', ']'] },
      'escaped \\" quote': '\\',
    }).replace(/}$/, ',"event_id":5,"event_id":6}');
    expect(jsonSourceText(text, ['event_id'])).toBe('6');
    expect(jsonSourceText(text, ['nested', 'event_id'])).toBe('3');
    expect(jsonSourceText('{"event\\u005fid":7}', ['event_id'])).toBe('7');
    expect(jsonSourceText('{"data":1,"data":{"id":8}}', ['data', 'id'])).toBe('8');
    expect(jsonSourceText('{"data":{"id":8},"data":1}', ['data', 'id'])).toBeUndefined();
    expect(jsonSourceText('{}', ['event_id'])).toBeUndefined();
    expect(jsonSourceText(' \n{ "x" : [ ] }', ['x'])).toBe('[ ]');
  });

  it('finds what JSON.parse finds, for any object', () => {
    fc.assert(
      fc.property(
        fc
          .dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 }))
          .chain((object) => {
            const keys = Object.keys(object);
            const key = fc.string({ maxLength: 6 });
            return fc.tuple(
              fc.constant(object),
              keys.length > 0 ? fc.oneof(fc.constantFrom(...keys), key) : key,
            );
          }),
        ([object, key]) => {
          const text = JSON.stringify(object, null, key.length % 2 ? 1 : undefined);
          const source = jsonSourceText(text, [key]);
          const parsed = JSON.parse(text) as Record<string, unknown>;
          if (!Object.hasOwn(parsed, key)) expect(source).toBeUndefined();
          else expect(JSON.parse(source ?? 'undefined')).toEqual(parsed[key]);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('walks deep nesting without a stack overflow', () => {
    const deep = `{"a":${'['.repeat(100_000)}${']'.repeat(100_000)},"id":1}`;
    expect(jsonSourceText(deep, ['id'])).toBe('1');
  });
});
