// The Lua of the batched delivery steps (see `delivery-batches.ts`); each runs atomically.

/**
 * KEYS: queued index, then per entry: delivery hash, registration's callback list, its audit
 *       stream.
 * ARGV: job id, ttl s, now ms, audit stream cap, audit stream ttl s, then per entry (stride 11):
 *       callback id, registration id, replay, has header ('1'/'0'), format, event type,
 *       event id, job id, received at, reconciled, the `callback.received` audit record (JSON,
 *       or '' for none).
 * Returns per entry: the owning job id, or '' when there is nothing to do. The audit record is
 * written when the delivery's hash is created (once per callback), with the stream's TTL.
 */
export const MATERIALIZE_SCRIPT = `
local out = {}
local items = (#KEYS - 1) / 3
for i = 0, items - 1 do
  local dl, list, stream, a = KEYS[2 + i * 3], KEYS[3 + i * 3], KEYS[4 + i * 3], 5 + i * 11
  local id, replay = ARGV[a + 1], tonumber(ARGV[a + 3])
  local cur = redis.call('HMGET', dl, 'replays', 'job', 'delivery_state')
  if cur[3] then
    local curReplay = tonumber(cur[1] or '0')
    if curReplay ~= replay or cur[3] == 'delivered' or cur[3] == 'dead_lettered' then
      out[#out + 1] = ''
    elseif cur[2] and cur[2] ~= '' then
      out[#out + 1] = cur[2]
    else
      redis.call('HSET', dl, 'job', ARGV[1])
      out[#out + 1] = ARGV[1]
    end
  elseif ARGV[a + 4] == '1' and replay == 0 then
    redis.call('HSET', dl, 'id', id, 'registration_id', ARGV[a + 2], 'delivery_state', 'queued',
      'format', ARGV[a + 5], 'event_type', ARGV[a + 6], 'event_id', ARGV[a + 7],
      'job_id', ARGV[a + 8], 'received_at', ARGV[a + 9], 'reconciled', ARGV[a + 10],
      'replays', '0', 'attempts', '0', 'job', ARGV[1])
    redis.call('EXPIRE', dl, tonumber(ARGV[2]))
    redis.call('ZADD', KEYS[1], tonumber(ARGV[3]), id)
    -- Trimmed only once past its cap; kept as long as its newest callback.
    if redis.call('RPUSH', list, id) > 100 then redis.call('LTRIM', list, -100, -1) end
    redis.call('EXPIRE', list, tonumber(ARGV[2]))
    if ARGV[a + 11] ~= '' then
      redis.call('XADD', stream, 'MAXLEN', '~', ARGV[4], '*', 'e', ARGV[a + 11])
      redis.call('EXPIRE', stream, tonumber(ARGV[5]))
    end
    out[#out + 1] = ARGV[1]
  else
    out[#out + 1] = ''
  end
end
return out
`;

/**
 * KEYS: state index prefix, then per delivery: delivery hash, record, registration.
 * ARGV: job id, now ms, then per delivery: callback id, replay.
 * Returns per delivery: {'deliver', record, deliver_to, delivery_secret, parse_job_id,
 * metadata, delivery_stopped} | {'ensure', job id, next attempt at} | {'skip', reason}.
 */
export const START_SCRIPT = `
local out = {}
local items = (#KEYS - 1) / 3
for i = 0, items - 1 do
  local dl, cb, reg, a = KEYS[2 + i * 3], KEYS[3 + i * 3], KEYS[4 + i * 3], 2 + i * 2
  local id, replay = ARGV[a + 1], tonumber(ARGV[a + 2])
  local d = redis.call('HMGET', dl, 'replays', 'job', 'delivery_state', 'job_parent',
    'next_attempt_at')
  if not d[3] or tonumber(d[1] or '0') ~= replay then
    out[#out + 1] = {'skip', 'not_owner'}
  elseif d[3] == 'delivered' or d[3] == 'dead_lettered' then
    out[#out + 1] = {'skip', 'done'}
  elseif d[2] == ARGV[1] then
    local record = redis.call('GET', cb)
    if not record then
      out[#out + 1] = {'skip', 'expired'}
    else
      local r = redis.call('HMGET', reg, 'deliver_to', 'delivery_secret', 'parse_job_id',
        'metadata', 'delivery_stopped', 'state')
      if d[3] ~= 'delivering' then
        redis.call('ZREM', KEYS[1] .. d[3], id)
        redis.call('ZADD', KEYS[1] .. 'delivering', tonumber(ARGV[2]), id)
        redis.call('HSET', dl, 'delivery_state', 'delivering')
        if r[6] and r[6] ~= 'delivering' then
          redis.call('HSET', reg, 'state', 'delivering')
        end
      end
      out[#out + 1] = {'deliver', record, r[1] or '', r[2] or '', r[3] or '', r[4] or '',
        r[5] or ''}
    end
  elseif d[4] == ARGV[1] and d[3] == 'retrying' and d[2] then
    out[#out + 1] = {'ensure', d[2], d[5] or ''}
  else
    out[#out + 1] = {'skip', 'not_owner'}
  end
end
return out
`;

/**
 * KEYS: state index prefix, then per outcome: delivery hash, attempt log, registration, its
 *       audit stream.
 * ARGV: now ms, ttl s, audit stream cap, audit stream ttl s, then per outcome (stride 13):
 *       callback id, job id, replay, state, attempts, attempt json, next job id, last status,
 *       last error, next attempt at, delivered at, stop deliveries reason, the attempt's audit
 *       record (JSON or ''; written with the attempt log entry, applied or stale).
 * Returns per outcome: 'ok', 'stale' (no longer owned: logged only) or 'gone'.
 */
export const COMMIT_SCRIPT = `
-- An audit record goes to the registration's stream as the audit store's sink writes it (field
-- e, capped); a stream that expired meanwhile is written again with its TTL.
local function audit(key, json)
  if json == '' then return end
  if not redis.call('XADD', key, 'NOMKSTREAM', 'MAXLEN', '~', ARGV[3], '*', 'e', json) then
    redis.call('XADD', key, 'MAXLEN', '~', ARGV[3], '*', 'e', json)
    redis.call('EXPIRE', key, tonumber(ARGV[4]))
  end
end
local out = {}
local items = (#KEYS - 1) / 4
local regStates = {delivered = 'delivered', dead_lettered = 'dead_lettered',
  retrying = 'delivering'}
for i = 0, items - 1 do
  local dl, log, reg, stream = KEYS[2 + i * 4], KEYS[3 + i * 4], KEYS[4 + i * 4], KEYS[5 + i * 4]
  local a = 4 + i * 13
  local id, job, state = ARGV[a + 1], ARGV[a + 2], ARGV[a + 4]
  local d = redis.call('HMGET', dl, 'replays', 'job', 'delivery_state')
  if not d[3] then
    out[#out + 1] = 'gone'
  else
    if ARGV[a + 6] ~= '' then
      -- The attempt log's TTL is set with its first attempt, as the delivery hash's was.
      local length = redis.call('RPUSH', log, ARGV[a + 6])
      if length == 1 then
        redis.call('EXPIRE', log, tonumber(ARGV[2]))
      elseif length > 50 then
        redis.call('LTRIM', log, -50, -1)
      end
    end
    audit(stream, ARGV[a + 13])
    if tonumber(d[1] or '0') ~= tonumber(ARGV[a + 3]) or d[2] ~= job then
      out[#out + 1] = 'stale'
    else
      redis.call('HSET', dl, 'delivery_state', state, 'attempts', ARGV[a + 5],
        'job', ARGV[a + 7], 'job_parent', job, 'last_status', ARGV[a + 8],
        'last_error', ARGV[a + 9], 'next_attempt_at', ARGV[a + 10],
        'delivered_at', ARGV[a + 11])
      if d[3] ~= state then
        redis.call('ZREM', KEYS[1] .. d[3], id)
        redis.call('ZADD', KEYS[1] .. state, tonumber(ARGV[1]), id)
        -- The delivered index keeps the newest 10,000 (trimmed in steps of 100).
        if state == 'delivered' and redis.call('ZCARD', KEYS[1] .. 'delivered') > 10100 then
          redis.call('ZREMRANGEBYRANK', KEYS[1] .. 'delivered', 0, -10001)
        end
      end
      local regState = redis.call('HGET', reg, 'state')
      if regState then
        if regState ~= regStates[state] then redis.call('HSET', reg, 'state', regStates[state]) end
        if ARGV[a + 12] ~= '' then redis.call('HSET', reg, 'delivery_stopped', ARGV[a + 12]) end
      end
      out[#out + 1] = 'ok'
    end
  end
end
return out
`;
