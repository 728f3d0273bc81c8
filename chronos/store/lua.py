"""Lua scripts, registered once per client. Each is atomic on the server, which is what makes
ingestion idempotent and its counters exact under retries and concurrent writers."""
from __future__ import annotations

from redis import Redis
from redis.commands.core import Script

# Records a chunk of execution events (chronos/store/recording.py builds the arguments). Each execution is
# stored idempotently by execId; exactly one final event per execId ever touches counters. What the chunk
# changed is then written once: one JSON.MERGE per job (last run, counters and consecutive failures folded in
# finish order), one TS.ADD per series bucket, one PUBLISH of the last event id. Series are added up per job
# and minute first: each (job, minute) group then adds to its 1m, 1h and 1d buckets (ON_DUPLICATE SUM/MAX
# make two groups landing in one hour bucket add up exactly).
# Series are UNCOMPRESSED: nearly every add updates an existing bucket, which in a compressed chunk means
# decoding and re-encoding it (measured: about 4x the CPU of the uncompressed form).
# KEYS[1] owner event stream (its Pub/Sub channel too), KEYS[1+i] execution i (i = 1..n), KEYS[1+n+j] job j
# (j = 1..m), then 15 series per job and 15 for the owner's `_all` scope: metric (runs successes failures
# dur_sum dur_max) x tier (1m 1h 1d).
# ARGV[1] n  ARGV[2] m  ARGV[3] ttl s  ARGV[4] stream maxlen  ARGV[5] now ms  ARGV[6..8] tier ms
# ARGV[9..11] tier retention ms  ARGV[12] owner; per job j from b = 13+3(j-1): job id, new-job JSON, the job's
# next run ms or '' (left as it is); per execution i from a = 13+3m+8(i-1): doc JSON, status, finishedAt ms,
# durationMs, job j, execId, event JSON, its error message as a JSON string or '' (kept as the job's lastError
# until a newer failure brings another).
# Returns one letter per execution: c created, f finished (a running execution completed), d duplicate.
RECORD_BATCH = """
local n, m, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[5])
local tier_ms = {tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])}
local ret = {tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])}
local tiers, metrics = {'1m', '1h', '1d'}, {'runs', 'successes', 'failures', 'dur_sum', 'dur_max'}
local series0, e0 = 1 + n + m, 13 + 3 * m
local jobs, groups, gorder, codes, lastid = {}, {}, {}, {}, nil
local function num(v) if v == nil or v == cjson.null then return nil end return tonumber(v) end
local function count(scope, minute, success, failure, dur)
  local gk = scope * 1e13 + minute  -- exact: below 2^53 for up to 900 scopes
  local g = groups[gk]
  if not g then g = {scope, minute, 0, 0, 0, 0, 0}; groups[gk] = g; gorder[#gorder + 1] = gk end
  g[3], g[4], g[5], g[6] = g[3] + 1, g[4] + success, g[5] + failure, g[6] + dur
  if dur > g[7] then g[7] = dur end
end
for i = 1, n do
  local a = e0 + 8 * (i - 1)
  local ekey, status = KEYS[1 + i], ARGV[a + 1]
  local final = status ~= 'running'
  local code = 'c'
  if redis.call('EXISTS', ekey) == 1 then
    local prev = redis.call('JSON.GET', ekey, '$.status')
    if (prev and cjson.decode(prev)[1] ~= 'running') or not final then code = 'd' else
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
      if redis.call('EXISTS', job.key) == 0 then redis.call('JSON.SET', job.key, '$', ARGV[11 + 3 * j]) end
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
        job.last, job.lastexec = fin, a
        if failure == 1 then job.cf = job.cf + 1 elseif success == 1 then job.cf = 0 end
        if ARGV[a + 7] ~= '' then job.err = ARGV[a + 7] end
      end
      job.runs, job.fails = job.runs + 1, job.fails + failure
      local minute = fin - (fin % tier_ms[1])
      count(j, minute, success, failure, dur)
      count(m + 1, minute, success, failure, dur)
    end
    lastid = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '*', 'type', 'execution', 'data', ARGV[a + 6])
  end
end
for j, job in pairs(jobs) do
  if job.final then
    local parts = {}
    local a = job.lastexec
    if a then
      parts[#parts + 1] = string.format('"lastStatus":%s,"lastRunAt":%s,"lastDurationMs":%s,"lastExecId":%s,"updatedAt":%d',
        cjson.encode(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 3], cjson.encode(ARGV[a + 5]), now)
      local next_run = ARGV[12 + 3 * j]
      if next_run ~= '' then parts[#parts + 1] = '"nextRunAt":' .. next_run end
    end
    if job.err then parts[#parts + 1] = '"lastError":' .. job.err end
    parts[#parts + 1] = string.format('"consecutiveFailures":%d,"totalRuns":%d,"totalFailures":%d',
      job.cf, job.runs, job.fails)
    redis.call('JSON.MERGE', job.key, '$', '{' .. table.concat(parts, ',') .. '}')
  end
end
for _, gk in ipairs(gorder) do
  local g = groups[gk]
  local base = series0 + 15 * (g[1] - 1)
  local scope = (g[1] <= m) and ARGV[10 + 3 * g[1]] or '_all'
  for t = 1, 3 do
    local ts = g[2] - (g[2] % tier_ms[t])
    if ts >= now - ret[t] then
      for mi = 1, 5 do
        redis.pcall('TS.ADD', KEYS[base + 3 * (mi - 1) + t], ts, g[2 + mi], 'RETENTION', ret[t],
          'ENCODING', 'UNCOMPRESSED', 'ON_DUPLICATE', (mi == 5) and 'MAX' or 'SUM', 'LABELS', 'owner', ARGV[12],
          'scope', scope, 'metric', metrics[mi], 'tier', tiers[t])
      end
    end
  end
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

# Queues an acknowledged batch for the recorders (queued ingestion, chronos/store/ingest_queue.py) unless the
# queue already holds its limit. KEYS[1] the queue stream; ARGV[1] limit (entries), ARGV[2] owner, ARGV[3] the
# time the batch was received (ms), ARGV[4] its validated events as JSON. Returns the entry id, or 0 when full.
ENQUEUE = """
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
return redis.call('XADD', KEYS[1], '*', 'owner', ARGV[2], 'at', ARGV[3], 'events', ARGV[4])
"""


class Scripts:
    """The registered scripts of one Redis client."""

    def __init__(self, r: Redis) -> None:
        self.record_batch: Script = r.register_script(RECORD_BATCH)
        self.rate_limit: Script = r.register_script(RATE_LIMIT)
        self.enqueue: Script = r.register_script(ENQUEUE)
