/**
 * A stored callback: what the parser sent and what the gateway recognised in it. Written once
 * by the intake, never changed (its delivery lives in a hash of its own), read by the worker to
 * deliver it and by the API to show it.
 */
export interface CallbackRecord {
  id: string;
  registrationId: string;
  format: string;
  contentType: string;
  receivedAt: string;
  /** Size of the body as received, in bytes. */
  bytes: number;
  dedupKey: string;
  stringEncoded: boolean;
  signature: 'verified' | 'absent' | 'not_configured';
  eventType: string | undefined;
  eventId: string | undefined;
  jobId: string | undefined;
  /** The job's outcome (a terminal event, a legacy full result or a reconciled result). */
  final: boolean;
  /** Found by asking the parser, not sent by it. */
  reconciled: boolean;
  /** The payload's JSON text exactly as received (inner text of a string-encoded envelope). */
  payloadJson: string;
}

/** The header of a record (everything but the payload), with the stored field names. */
export interface CallbackHeader {
  id: string;
  registration_id: string;
  format: string;
  content_type: string;
  received_at: string;
  bytes: number;
  dedup_key: string;
  string_encoded?: 1;
  signature: string;
  event_type?: string;
  event_id?: string;
  job_id?: string;
  final?: 1;
  reconciled?: 1;
}

/**
 * The stored form: the header as one line of JSON, a newline, then the payload's text as it
 * came. One Redis string per callback (a hash holding a large field costs Redis about twice as
 * much to write), and the payload is never parsed or re-serialised on its way through.
 * `JSON.stringify` escapes every newline inside the header, so the first `\n` ends it.
 */
export function encodeCallbackRecord(record: Omit<CallbackRecord, 'payloadJson'>): string {
  const header: CallbackHeader = {
    id: record.id,
    registration_id: record.registrationId,
    format: record.format,
    content_type: record.contentType,
    received_at: record.receivedAt,
    bytes: record.bytes,
    dedup_key: record.dedupKey,
    signature: record.signature,
  };
  if (record.stringEncoded) header.string_encoded = 1;
  if (record.eventType !== undefined) header.event_type = record.eventType;
  if (record.eventId !== undefined) header.event_id = record.eventId;
  if (record.jobId !== undefined) header.job_id = record.jobId;
  if (record.final) header.final = 1;
  if (record.reconciled) header.reconciled = 1;
  return `${JSON.stringify(header)}\n`;
}

/** Reads a header line (as found in the ingest stream), or undefined when it is not one. */
export function parseCallbackHeader(line: string): CallbackHeader | undefined {
  try {
    const value = JSON.parse(line) as Partial<CallbackHeader> | null;
    if (
      typeof value !== 'object' ||
      value === null ||
      typeof value.id !== 'string' ||
      typeof value.registration_id !== 'string'
    ) {
      return undefined;
    }
    return value as CallbackHeader;
  } catch {
    return undefined;
  }
}

/** Decodes a stored record, or undefined when the text is not one. */
export function decodeCallbackRecord(stored: string): CallbackRecord | undefined {
  const end = stored.indexOf('\n');
  if (end < 0) return undefined;
  const header = parseCallbackHeader(stored.slice(0, end));
  if (!header) return undefined;
  return {
    id: header.id,
    registrationId: header.registration_id,
    format: header.format ?? 'other',
    contentType: header.content_type ?? 'application/json',
    receivedAt: header.received_at ?? '',
    bytes: typeof header.bytes === 'number' ? header.bytes : 0,
    dedupKey: header.dedup_key ?? '',
    stringEncoded: header.string_encoded === 1,
    signature: (header.signature ?? 'absent') as CallbackRecord['signature'],
    eventType: header.event_type,
    eventId: header.event_id,
    jobId: header.job_id,
    final: header.final === 1,
    reconciled: header.reconciled === 1,
    payloadJson: stored.slice(end + 1),
  };
}

/** A stored record as the worker delivers it: the payload kept as the bytes Redis holds. */
export type DeliverableCallback = Omit<CallbackRecord, 'payloadJson'> & { payload: Buffer };

/** Decodes a stored record read as bytes (no decoding of the payload), or undefined. */
export function decodeCallbackRecordBytes(stored: Buffer): DeliverableCallback | undefined {
  const end = stored.indexOf(0x0a);
  if (end < 0) return undefined;
  const record = decodeCallbackRecord(`${stored.toString('utf8', 0, end)}\n`);
  if (!record) return undefined;
  const { payloadJson: _none, ...rest } = record;
  return { ...rest, payload: stored.subarray(end + 1) };
}
