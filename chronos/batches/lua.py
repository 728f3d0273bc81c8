"""The batch scripts. Each one is the single place where its state change happens, so that two web processes,
any number of runners and a cancel can interleave without losing or double-counting a record.

The exactness rule lives in FINALIZE: a record is counted when its result slot goes from pending to final,
which happens once per record (per retry-failed round), whichever runner or redelivery reports it first.
"""
from __future__ import annotations

from typing import Any

# Shared helpers, prepended to the scripts that need them.
# emit: one batch:progress event (XADD to the owner's stream + PUBLISH of the entry id).
# finish_if_done: a sealed batch whose records are all final becomes completed (and leaves the active set).
_HELPERS = """
local function emit(bkey, events, bid, now, maxlen)
  local h = redis.call('HMGET', bkey, 'state', 'total', 'delivered', 'failed', 'retries', 'sealed')
  local total, d, f = tonumber(h[2]) or 0, tonumber(h[3]) or 0, tonumber(h[4]) or 0
  local data = cjson.encode({batchId = bid, state = h[1], total = total, delivered = d, failed = f,
    pending = (h[1] == 'cancelled') and 0 or (total - d - f), retries = tonumber(h[5]) or 0,
    receiving = h[6] ~= '1', at = now})
  local id = redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'type', 'batch:progress', 'data', data)
  redis.call('PUBLISH', events, id)
end
local function finish_if_done(bkey, active, bid, now)
  local h = redis.call('HMGET', bkey, 'state', 'total', 'delivered', 'failed', 'sealed')
  if h[5] == '1' and (h[1] == 'queued' or h[1] == 'running')
      and (tonumber(h[3]) or 0) + (tonumber(h[4]) or 0) >= (tonumber(h[2]) or 0) then
    redis.call('HSET', bkey, 'state', 'completed', 'finishedAt', now)
    redis.call('SREM', active, bid)
    return true
  end
  return false
end
"""

# KEYS[1] batch hash, KEYS[2..] duplicate-check sets; ARGV[1] ttl s, then per record: set index (1-based into
# KEYS[2..]), id text. Returns -1 when the batch was cancelled meanwhile, else the 0-based positions of the
# ids seen before (in this batch).
CLAIM_IDS = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'cancelled' or not state then return -1 end
local dup = {}
for i = 2, #ARGV, 2 do
  if redis.call('SADD', KEYS[1 + tonumber(ARGV[i])], ARGV[i + 1]) == 0 then dup[#dup + 1] = (i - 2) / 2 end
end
for k = 2, #KEYS do redis.call('EXPIRE', KEYS[k], ARGV[1]) end
return dup
"""

# KEYS[1] batch, KEYS[2] active set, KEYS[3] events; ARGV[1] now ms, ARGV[2] batch id, ARGV[3] maxlen
# The upload (or a retry-failed setup) is complete: the batch may now finish.
SEAL = _HELPERS + """
redis.call('HSET', KEYS[1], 'sealed', 1, 'receivedAt', ARGV[1])
finish_if_done(KEYS[1], KEYS[2], ARGV[2], ARGV[1])
emit(KEYS[1], KEYS[3], ARGV[2], tonumber(ARGV[1]), ARGV[3])
return redis.call('HGET', KEYS[1], 'state')
"""

# KEYS[1] batch; ARGV[1] now ms. A runner took its first records: queued -> running.
START = """
redis.call('HSETNX', KEYS[1], 'startedAt', ARGV[1])
if redis.call('HGET', KEYS[1], 'state') == 'queued' then redis.call('HSET', KEYS[1], 'state', 'running') end
return 1
"""

# KEYS: 1 batch, 2 records stream, 3 results, 4 failed, 5 hist, 6 events, 7 tick, 8 active
# ARGV: 1 group, 2 now ms, 3 ttl s, 4 events maxlen, 5 tick ms, 6 batch id,
#   7 reports: 18 bytes per record (chronos.batches.model.REPORT: seq, state, attempts, status,
#     latency µs, latency for the stats or -1, histogram bucket),
#   8 nf, nf x (seq, failure JSON), then na, na x entry id (chunks all of whose records are now final).
FINALIZE = _HELPERS + """
local now = tonumber(ARGV[2])
local d, f, r, dup, cnt, sum, mn, mx = 0, 0, 0, 0, 0, 0, nil, nil
local hist, counted, ids = {}, {}, {}
local blob, pos = ARGV[7], 1
while pos < #blob do
  local seq, st, att, code, slat, lat, b, nxt = struct.unpack('>I4BBI2I4i4I2', blob, pos)
  local cur = redis.call('GETRANGE', KEYS[3], seq * 8, seq * 8)
  if cur == '' or string.byte(cur) == 0 then
    redis.call('SETRANGE', KEYS[3], seq * 8, string.sub(blob, pos + 4, pos + 11))
    if st == 1 then d = d + 1 else f = f + 1 end
    r = r + math.max(0, att - 1)
    counted[tostring(seq)] = true
    if lat >= 0 then
      cnt, sum = cnt + 1, sum + lat
      if mn == nil or lat < mn then mn = lat end
      if mx == nil or lat > mx then mx = lat end
      hist[b] = (hist[b] or 0) + 1
    end
  else
    dup = dup + 1
  end
  pos = nxt
end
local i = 8
local nf = tonumber(ARGV[i]); i = i + 1
for _ = 1, nf do
  if counted[ARGV[i]] then redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1]) end
  i = i + 2
end
local nd = tonumber(ARGV[i]); i = i + 1
for _ = 1, nd do ids[#ids + 1] = ARGV[i]; i = i + 1 end
for k = 1, #ids, 1000 do
  redis.call('XACK', KEYS[2], ARGV[1], unpack(ids, k, math.min(k + 999, #ids)))
end
if d + f + dup > 0 then
  redis.call('HINCRBY', KEYS[1], 'delivered', d)
  redis.call('HINCRBY', KEYS[1], 'failed', f)
  redis.call('HINCRBY', KEYS[1], 'retries', r)
  redis.call('HINCRBY', KEYS[1], 'duplicates', dup)
  redis.call('HSETNX', KEYS[1], 'firstDoneAt', now)
  redis.call('HSET', KEYS[1], 'lastDoneAt', now)
end
if cnt > 0 then
  redis.call('HINCRBY', KEYS[1], 'latCount', cnt)
  redis.call('HINCRBY', KEYS[1], 'latSum', sum)
  local old = redis.call('HMGET', KEYS[1], 'latMin', 'latMax')
  if not old[1] or mn < tonumber(old[1]) then redis.call('HSET', KEYS[1], 'latMin', mn) end
  if not old[2] or mx > tonumber(old[2]) then redis.call('HSET', KEYS[1], 'latMax', mx) end
  for b, c in pairs(hist) do redis.call('HINCRBY', KEYS[5], b, c) end
end
for k = 1, 5 do redis.call('EXPIRE', KEYS[k], ARGV[3]) end
if finish_if_done(KEYS[1], KEYS[8], ARGV[6], now) or redis.call('SET', KEYS[7], 1, 'NX', 'PX', ARGV[5]) then
  emit(KEYS[1], KEYS[6], ARGV[6], now, ARGV[4])
end
return {d, f, dup, redis.call('HGET', KEYS[1], 'state')}
"""

# KEYS[1] batch, KEYS[2] active, KEYS[3] events; ARGV[1] now ms, ARGV[2] batch id, ARGV[3] maxlen.
# Returns 1 when cancelled now, 0 when it had already finished.
CANCEL = _HELPERS + """
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'queued' and state ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finishedAt', ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
emit(KEYS[1], KEYS[3], ARGV[2], tonumber(ARGV[1]), ARGV[3])
return 1
"""

# KEYS[1] batch, KEYS[2] active, KEYS[3] lock; ARGV[1] lock token, ARGV[2] lock ttl ms.
# Opens a retry-failed round: the batch is unsealed (it cannot finish until SEAL) and active again.
# Returns the round number, 0 when nothing failed, -1 when the batch is not completed, -2 when locked.
BEGIN_RETRY = """
if redis.call('HGET', KEYS[1], 'state') ~= 'completed' then return -1 end
if tonumber(redis.call('HGET', KEYS[1], 'failed') or '0') == 0 then return 0 end
if not redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[2]) then return -2 end
redis.call('HSET', KEYS[1], 'state', 'running', 'sealed', 0)
redis.call('HDEL', KEYS[1], 'finishedAt')
redis.call('SADD', KEYS[2], redis.call('HGET', KEYS[1], 'id'))
return redis.call('HINCRBY', KEYS[1], 'round', 1)
"""

# KEYS[1] batch, KEYS[2] records, KEYS[3] results, KEYS[4] failed; ARGV[1] entry id (<round>-<n>),
# ARGV[2] a chunk of failed records (model.RECORD_HEAD layout). The records still failed are made pending
# again and written as a new entry; returns how many.
REQUEUE = """
local blob, pos, parts = ARGV[2], 1, {}
while pos < #blob do
  local seq, idlen, bodylen, nxt = struct.unpack('>I4I2I4', blob, pos)
  local stop = nxt + idlen + bodylen
  local cur = redis.call('GETRANGE', KEYS[3], seq * 8, seq * 8)
  if cur ~= '' and string.byte(cur) == 2 then
    parts[#parts + 1] = string.sub(blob, pos, stop - 1)
    redis.call('SETRANGE', KEYS[3], seq * 8, string.rep(string.char(0), 8))
    redis.call('HDEL', KEYS[4], tostring(seq))
  end
  pos = stop
end
if #parts > 0 then
  redis.call('XADD', KEYS[2], ARGV[1], 'r', table.concat(parts))
  redis.call('HINCRBY', KEYS[1], 'failed', -#parts)
end
return #parts
"""

# KEYS[1] window counter; ARGV[1] wanted, ARGV[2] window capacity, ARGV[3] ttl ms. Returns the grant.
RATE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local grant = math.min(tonumber(ARGV[1]), tonumber(ARGV[2]) - used)
if grant <= 0 then return 0 end
redis.call('INCRBY', KEYS[1], grant)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return grant
"""

# KEYS[1] lock; ARGV[1] token. Releases the lock only for its holder.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class BatchScripts:
    """The batch scripts registered on one client (sync or asyncio)."""

    def __init__(self, r: Any) -> None:
        self.claim_ids = r.register_script(CLAIM_IDS)
        self.seal = r.register_script(SEAL)
        self.start = r.register_script(START)
        self.finalize = r.register_script(FINALIZE)
        self.cancel = r.register_script(CANCEL)
        self.begin_retry = r.register_script(BEGIN_RETRY)
        self.requeue = r.register_script(REQUEUE)
        self.rate = r.register_script(RATE)
        self.release = r.register_script(RELEASE)
