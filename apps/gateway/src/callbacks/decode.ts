import { hash } from 'node:crypto';
import { jsonSourceText } from './json-text.js';

/** How a callback body was recognised. */
export type CallbackFormat =
  /** LlamaCloud's v2 event envelope (`event_id`, `event_type`, `data.job_id`). */
  | 'event'
  /** The legacy v1 full result (`txt`, `md`, `json`, `images`), which carries no job id. */
  | 'legacy'
  /** Any other JSON object: kept and delivered as received. */
  | 'other';

/** A callback body that is safe to store and deliver. */
export interface DecodedCallback {
  format: CallbackFormat;
  /** The payload as a JSON value (decoded twice when the body was a JSON string literal). */
  payload: Record<string, unknown>;
  /** The payload's JSON text exactly as received (the inner text of a string-encoded body):
   * what is stored and delivered, never re-serialised. */
  payloadJson: string;
  /** True when the body was a JSON string holding the envelope (`webhook_output_format: "string"`). */
  stringEncoded: boolean;
  eventType?: string;
  /** `event_id` as sent: a string as it is, a number as its exact digits (never rounded). */
  eventId?: string;
  /** The parser's job id, when the body carries one (a number as its exact digits). */
  jobId?: string;
  /** What duplicates share: `event:<event_id>`, else `body:<sha256 of the raw body>`. */
  dedupKey: string;
  /** The job's outcome: a terminal event, or a legacy full result (sent once the job ended). */
  final: boolean;
}

/** Event types that end a parse job (both naming generations). */
export const TERMINAL_EVENT_TYPES: ReadonlySet<string> = new Set([
  'parse.success',
  'parse.error',
  'parse.partial_success',
  'parse.cancelled',
  'parse.done',
  'parse.failure',
  'parse.partial',
]);

/** Why a body was refused; `status` is the HTTP answer. */
export class CallbackDecodeError extends Error {
  constructor(
    readonly code: 'CALLBACK_UNSUPPORTED_MEDIA_TYPE' | 'CALLBACK_MALFORMED',
    readonly status: 400 | 415,
    message: string,
  ) {
    super(message);
    this.name = 'CallbackDecodeError';
  }
}

const LEGACY_KEYS = ['txt', 'md', 'json', 'images'];
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** True for `application/json`, `application/*+json` and `text/json` (any parameters), or none. */
export function isJsonContentType(contentType: string | undefined): boolean {
  if (contentType === undefined || contentType.trim() === '') return true;
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return (
    type === 'application/json' ||
    type === 'text/json' ||
    /^application\/[\w.+-]+\+json$/.test(type)
  );
}

function charsetIsUtf8(contentType: string | undefined): boolean {
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(contentType ?? '')?.[1]?.toLowerCase();
  return charset === undefined || charset === 'utf-8' || charset === 'utf8';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const MAX_ID_LENGTH = 200;

/**
 * A field read as text: a string as it is, a number as its digits were sent. `JSON.parse` gives
 * a number as a double, and two ids of more than 15 digits can round to the same one (two
 * distinct events would then be merged as duplicates). The number's own text is looked up only
 * when there is a number: string ids, what LlamaCloud sends, cost nothing more.
 */
function textField(
  value: unknown,
  payloadJson: string,
  path: readonly string[],
): string | undefined {
  let text: string | undefined;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number') text = jsonSourceText(payloadJson, path);
  return text !== undefined && text.length > 0 && text.length <= MAX_ID_LENGTH ? text : undefined;
}

/**
 * Recognises a parser callback from its raw bytes. Accepts both LlamaCloud formats, including
 * an envelope sent as a JSON string literal; keeps unknown event types and extra fields.
 * Throws {@link CallbackDecodeError} (400/415) for anything that cannot be stored as JSON.
 */
export function decodeCallback(raw: Buffer, contentType: string | undefined): DecodedCallback {
  if (!isJsonContentType(contentType)) {
    throw new CallbackDecodeError(
      'CALLBACK_UNSUPPORTED_MEDIA_TYPE',
      415,
      `expected a JSON body (Content-Type: application/json), got "${contentType?.split(';')[0]?.trim()}"`,
    );
  }
  if (!charsetIsUtf8(contentType)) {
    throw new CallbackDecodeError(
      'CALLBACK_UNSUPPORTED_MEDIA_TYPE',
      415,
      'expected a UTF-8 JSON body',
    );
  }
  if (raw.length === 0)
    throw new CallbackDecodeError('CALLBACK_MALFORMED', 400, 'the body is empty');
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw new CallbackDecodeError('CALLBACK_MALFORMED', 400, 'the body is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CallbackDecodeError(
      'CALLBACK_MALFORMED',
      400,
      `the body is not valid JSON (${error instanceof Error ? error.message.slice(0, 200) : 'parse error'})`,
    );
  }
  let stringEncoded = false;
  let payloadJson = text;
  if (typeof value === 'string') {
    stringEncoded = true;
    payloadJson = value;
    try {
      value = JSON.parse(value);
    } catch {
      throw new CallbackDecodeError(
        'CALLBACK_MALFORMED',
        400,
        'the body is a JSON string, but its content is not JSON (expected an event envelope)',
      );
    }
  }
  if (!isPlainObject(value)) {
    throw new CallbackDecodeError(
      'CALLBACK_MALFORMED',
      400,
      `expected a JSON object (an event envelope or a parse result), got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`,
    );
  }
  const bodyHash = () => `body:${hash('sha256', raw, 'hex')}`;
  const eventType = textField(value['event_type'], payloadJson, ['event_type']);
  const eventId = textField(value['event_id'], payloadJson, ['event_id']);
  if (eventType !== undefined || eventId !== undefined) {
    const data = isPlainObject(value['data']) ? value['data'] : undefined;
    const jobId =
      textField(data?.['job_id'], payloadJson, ['data', 'job_id']) ??
      textField(data?.['id'], payloadJson, ['data', 'id']);
    return {
      format: 'event',
      payload: value,
      payloadJson,
      stringEncoded,
      ...(eventType !== undefined && { eventType }),
      ...(eventId !== undefined && { eventId }),
      ...(jobId !== undefined && { jobId }),
      dedupKey: eventId !== undefined ? `event:${eventId}` : bodyHash(),
      final: eventType !== undefined && TERMINAL_EVENT_TYPES.has(eventType),
    };
  }
  const format: CallbackFormat = LEGACY_KEYS.some((key) => key in value) ? 'legacy' : 'other';
  const jobId = textField(value['job_id'], payloadJson, ['job_id']);
  return {
    format,
    payload: value,
    payloadJson,
    stringEncoded,
    ...(jobId !== undefined && { jobId }),
    dedupKey: bodyHash(),
    final: format === 'legacy',
  };
}
