"""Lua scripts, registered once per client. Each is atomic on the server, which is what makes
ingestion idempotent and its counters exact under retries and concurrent writers."""
from __future__ import annotations

from redis import Redis
from redis.commands.core import Script

# Records one execution event. Exactly one final event per execId ever touches counters.
# Series are UNCOMPRESSED: nearly every add updates an existing bucket, which in a compressed chunk means
# decoding and re-encoding it (measured: 30 adds cost about 4x the CPU of the uncompressed form).
# KEYS[1] execution doc, KEYS[2] job doc, KEYS[3] owner event stream (its Pub/Sub channel too),
# KEYS[4..33] series: scope (job, _all) x metric (runs successes failures dur_sum dur_max) x tier (1m 1h 1d)
# ARGV[1] execution JSON   ARGV[2] status        ARGV[3] finishedAt ms  ARGV[4] durationMs
# ARGV[5] ttl seconds      ARGV[6] new-job JSON  ARGV[7] job patch JSON ARGV[8] event JSON
# ARGV[9] stream maxlen    ARGV[10] now ms       ARGV[11..13] tier ms   ARGV[14..16] tier retention ms
# ARGV[17] owner           ARGV[18] job id
# Returns "created", "finished" (a running execution completed) or "duplicate" (nothing changed).
RECORD_EXECUTION = """
local prev = redis.call('JSON.GET', KEYS[1], '$.status')
local status = ARGV[2]
local final = status ~= 'running'
local outcome = 'created'
if prev then
  if cjson.decode(prev)[1] ~= 'running' or not final then return 'duplicate' end
  redis.call('JSON.MERGE', KEYS[1], '$', ARGV[1])
  outcome = 'finished'
else
  redis.call('JSON.SET', KEYS[1], '$', ARGV[1])
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('JSON.SET', KEYS[2], '$', ARGV[6], 'NX')
if final then
  local fin, dur, now = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[10])
  local failure = (status == 'failed' or status == 'timeout') and 1 or 0
  local success = (status == 'success') and 1 or 0
  local values = {1, success, failure, dur, dur}
  local metrics = {'runs', 'successes', 'failures', 'dur_sum', 'dur_max'}
  local tiers = {'1m', '1h', '1d'}
  local k = 4
  for scope = 1, 2 do
    local scopename = (scope == 1) and ARGV[18] or '_all'
    for m = 1, 5 do
      for t = 1, 3 do
        local bucket, ret = tonumber(ARGV[10 + t]), tonumber(ARGV[13 + t])
        local ts = fin - (fin % bucket)
        if ts >= now - ret then
          redis.pcall('TS.ADD', KEYS[k], ts, values[m], 'RETENTION', ret, 'ENCODING', 'UNCOMPRESSED',
            'ON_DUPLICATE', (m == 5) and 'MAX' or 'SUM',
            'LABELS', 'owner', ARGV[17], 'scope', scopename, 'metric', metrics[m], 'tier', tiers[t])
        end
        k = k + 1
      end
    end
  end
  local last = cjson.decode(redis.call('JSON.GET', KEYS[2], '$.lastRunAt'))[1]
  if last == nil or last == cjson.null or fin >= last then
    redis.call('JSON.MERGE', KEYS[2], '$', ARGV[7])
    if failure == 1 then redis.call('JSON.NUMINCRBY', KEYS[2], '$.consecutiveFailures', 1)
    elseif success == 1 then redis.call('JSON.SET', KEYS[2], '$.consecutiveFailures', 0) end
  end
  redis.call('JSON.NUMINCRBY', KEYS[2], '$.totalRuns', 1)
  if failure == 1 then redis.call('JSON.NUMINCRBY', KEYS[2], '$.totalFailures', 1) end
end
local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[9], '*', 'type', 'execution', 'data', ARGV[8])
redis.call('PUBLISH', KEYS[3], id)
return outcome
"""

# Fixed-window rate limit. KEYS[1] counter; ARGV[1] window seconds. Returns the count after this hit.
RATE_LIMIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


class Scripts:
    """The registered scripts of one Redis client."""

    def __init__(self, r: Redis) -> None:
        self.record_execution: Script = r.register_script(RECORD_EXECUTION)
        self.rate_limit: Script = r.register_script(RATE_LIMIT)
