"""Lua scripts, registered once per client. Each is atomic on the server, which is what makes
ingestion idempotent and its counters exact under retries and concurrent writers."""
from __future__ import annotations

from redis import Redis
from redis.commands.core import Script

# Records a chunk of execution events (chronos/store/recording.py builds the arguments). Each execution is
# stored idempotently by execId; exactly one final event per execId ever touches counters. What the chunk
# changed is then written once: one JSON.MERGE per job (counters and consecutive failures folded in order),
# one TS.ADD per series bucket (sums and maxima added up), one PUBLISH of the last event id.
# Series are UNCOMPRESSED: nearly every add updates an existing bucket, which in a compressed chunk means
# decoding and re-encoding it (measured: about 4x the CPU of the uncompressed form).
# KEYS[1] owner event stream (its Pub/Sub channel too), KEYS[1+i] execution i (i = 1..n), KEYS[1+n+j] job j
# (j = 1..m), then 15 series per job and 15 for the owner's `_all` scope: metric (runs successes failures
# dur_sum dur_max) x tier (1m 1h 1d).
# ARGV[1] n  ARGV[2] m  ARGV[3] ttl s  ARGV[4] stream maxlen  ARGV[5] now ms  ARGV[6..8] tier ms
# ARGV[9..11] tier retention ms  ARGV[12] owner; per job j: ARGV[11+2j] job id, ARGV[12+2j] new-job JSON;
# per execution i from a = 13+2m+8(i-1): doc JSON, status, finishedAt ms, durationMs, job j, job patch JSON
# (an object), event JSON, its error message as a JSON string or '' (kept as the job's lastError until a
# newer failure brings another). Then ARGV[p], p = 13+2m+8n: '1' when the caller sent the chunk's sums
# assuming every event is a new final run (ARGV[p+1] count, then triples: series offset from KEYS[1+n+m],
# bucket ms, value); they are used when that holds, and otherwise the script adds up the runs it counted.
# Returns one letter per execution: c created, f finished (a running execution completed), d duplicate.
RECORD_BATCH = """
local n, m, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[5])
local tier_ms = {tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])}
local ret = {tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])}
local tiers, metrics = {'1m', '1h', '1d'}, {'runs', 'successes', 'failures', 'dur_sum', 'dur_max'}
local series0 = 1 + n + m
local jobs, counted, codes, lastid = {}, {}, {}, nil
local function num(v) if v == nil or v == cjson.null then return nil end return tonumber(v) end
for i = 1, n do
  local a = 13 + 2 * m + 8 * (i - 1)
  local ekey, status = KEYS[1 + i], ARGV[a + 1]
  local final = status ~= 'running'
  local prev = redis.call('JSON.GET', ekey, '$.status')
  local code = 'c'
  if prev then
    if cjson.decode(prev)[1] ~= 'running' or not final then code = 'd' else
      redis.call('JSON.MERGE', ekey, '$', ARGV[a])
      code = 'f'
    end
  else
    redis.call('JSON.SET', ekey, '$', ARGV[a])
  end
  codes[i] = code
  if code ~= 'd' then
    redis.call('EXPIRE', ekey, ARGV[3])
    local j = tonumber(ARGV[a + 4])
    local job = jobs[j]
    if not job then
      job = {key = KEYS[1 + n + j], final = false}
      redis.call('JSON.SET', job.key, '$', ARGV[12 + 2 * j], 'NX')
      jobs[j] = job
    end
    if final then
      if not job.final then
        local cur = cjson.decode(redis.call('JSON.GET', job.key, '$.lastRunAt', '$.consecutiveFailures',
          '$.totalRuns', '$.totalFailures'))
        job.last = num(cur['$.lastRunAt'][1])
        job.cf = num(cur['$.consecutiveFailures'][1]) or 0
        job.runs = num(cur['$.totalRuns'][1]) or 0
        job.fails = num(cur['$.totalFailures'][1]) or 0
        job.final = true
      end
      local fin, dur = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
      local failure = (status == 'failed' or status == 'timeout') and 1 or 0
      local success = (status == 'success') and 1 or 0
      if job.last == nil or fin >= job.last then
        job.last, job.patch = fin, ARGV[a + 5]
        if failure == 1 then job.cf = job.cf + 1 elseif success == 1 then job.cf = 0 end
        if ARGV[a + 7] ~= '' then job.err = ARGV[a + 7] end
      end
      job.runs, job.fails = job.runs + 1, job.fails + failure
      counted[#counted + 1] = {j, fin, dur, success, failure}
    end
    lastid = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '*', 'type', 'execution', 'data', ARGV[a + 6])
  end
end
for j, job in pairs(jobs) do
  if job.final then
    local counters = string.format('"consecutiveFailures":%d,"totalRuns":%d,"totalFailures":%d}',
      job.cf, job.runs, job.fails)
    if job.err then counters = '"lastError":' .. job.err .. ',' .. counters end
    if job.patch then counters = string.sub(job.patch, 1, -2) .. ',' .. counters else counters = '{' .. counters end
    redis.call('JSON.MERGE', job.key, '$', counters)
  end
end
local function add(k, ts, v)
  local idx = k - series0 - 1
  local scope, mi, t = math.floor(idx / 15) + 1, math.floor((idx % 15) / 3) + 1, idx % 3 + 1
  redis.pcall('TS.ADD', KEYS[k], ts, v, 'RETENTION', ret[t], 'ENCODING', 'UNCOMPRESSED',
    'ON_DUPLICATE', (mi == 5) and 'MAX' or 'SUM', 'LABELS', 'owner', ARGV[12],
    'scope', (scope <= m) and ARGV[11 + 2 * scope] or '_all', 'metric', metrics[mi], 'tier', tiers[t])
end
local p0 = 13 + 2 * m + 8 * n
if ARGV[p0] == '1' and #counted == n then
  -- Every event was a new final run, as the caller assumed: its sums are the ones to add.
  for q = p0 + 2, p0 + 1 + 3 * tonumber(ARGV[p0 + 1]), 3 do add(series0 + tonumber(ARGV[q]), ARGV[q + 1], ARGV[q + 2]) end
else
  local samples, order = {}, {}
  for _, c in ipairs(counted) do
    local j, fin, dur, success, failure = c[1], c[2], c[3], c[4], c[5]
    local values = {1, success, failure, dur, dur}
    for _, base in ipairs({series0 + 15 * (j - 1), series0 + 15 * m}) do
      for t = 1, 3 do
        local ts = fin - (fin % tier_ms[t])
        if ts >= now - ret[t] then
          for mi = 1, 5 do
            local k = base + 3 * (mi - 1) + t
            local s = samples[k]
            if not s then s = {}; samples[k] = s; order[#order + 1] = k end
            local v = s[ts]
            if v == nil then s[ts] = values[mi]
            elseif mi == 5 then if values[mi] > v then s[ts] = values[mi] end
            else s[ts] = v + values[mi] end
          end
        end
      end
    end
  end
  for _, k in ipairs(order) do for ts, v in pairs(samples[k]) do add(k, ts, v) end end
end
if lastid then redis.call('PUBLISH', KEYS[1], lastid) end
return table.concat(codes)
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
        self.record_batch: Script = r.register_script(RECORD_BATCH)
        self.rate_limit: Script = r.register_script(RATE_LIMIT)
