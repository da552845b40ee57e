"""The Lua scripts of :class:`pulse_adapters.redis.queue.RedisJobQueue`, one per change
to a queue, each atomic in Redis. The keys they take and the layout they keep are in
that module's docstring; each script's ``KEYS`` and ``ARGV`` are above it.
"""

from __future__ import annotations

from typing import Final

# Due delayed jobs moved into the stream per script run; the rest follow on the next.
MOVE_LIMIT: Final = 100
# XAUTOCLAIM rounds per reserve; each scans up to 10 * max_jobs pending entries.
RECLAIM_ROUNDS: Final = 10

_LUA_HELPERS: Final = """
local function fields_of(flat)
  local fields = {}
  for i = 1, #flat, 2 do fields[flat[i]] = flat[i + 1] end
  return fields
end

local function add_job(stream, entries, job, attempts, due, payload)
  local entry = redis.call('XADD', stream, '*',
    'job', job, 'attempts', attempts, 'due', due, 'payload', payload)
  redis.call('HSET', entries, job, entry)
end

-- Delayed jobs due by `now` join the stream, the earliest due first.
local function move_due(stream, delayed, entries, now, limit)
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
  for i = 1, #due, 2 do
    local member = due[i]
    local a = string.find(member, '|', 1, true)
    local b = string.find(member, '|', a + 1, true)
    add_job(stream, entries, string.sub(member, 1, a - 1), string.sub(member, a + 1, b - 1),
      string.format('%.0f', tonumber(due[i + 1])), string.sub(member, b + 1))
    redis.call('ZREM', delayed, member)
  end
end

-- Looked up rather than attempted: a failed XGROUP CREATE (BUSYGROUP) on every call
-- would count in Redis's error statistics, which operators watch.
local function has_group(stream, group)
  if redis.call('EXISTS', stream) == 0 then return false end
  for _, info in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    for i = 1, #info, 2 do
      if info[i] == 'name' and info[i + 1] == group then return true end
    end
  end
  return false
end

-- The stream entry and fields of `job` when it is reserved (pending in the group, by
-- anyone), with its attempts so far; nil otherwise.
local function reserved(stream, entries, group, job)
  local entry = redis.call('HGET', entries, job)
  if not entry or not has_group(stream, group) then return nil end
  local pending = redis.call('XPENDING', stream, group, entry, entry, 1)
  if #pending == 0 then return nil end
  local found = redis.call('XRANGE', stream, entry, entry)
  if #found == 0 then return nil end
  local fields = fields_of(found[1][2])
  return entry, fields, tonumber(fields['attempts']) + pending[1][4]
end

local function forget(stream, entries, group, job, entry)
  redis.call('XACK', stream, group, entry)
  redis.call('XDEL', stream, entry)
  redis.call('HDEL', entries, job)
end
"""

# KEYS: jobs, delayed, entries. ARGV: job id, payload, now_us.
ENQUEUE: Final = (
    _LUA_HELPERS
    + f"""
move_due(KEYS[1], KEYS[2], KEYS[3], ARGV[3], {MOVE_LIMIT})
add_job(KEYS[1], KEYS[3], ARGV[1], '0', ARGV[3], ARGV[2])
return 1
"""
)

# KEYS: jobs, delayed, entries, reclaim cursor.
# ARGV: group, consumer, now_us, visibility_ms, max_jobs.
# Returns {last entry id of the stream, {job, payload, attempts, ...}}.
RESERVE: Final = (
    _LUA_HELPERS
    + f"""
local stream, group, consumer = KEYS[1], ARGV[1], ARGV[2]
local wanted = tonumber(ARGV[5])
move_due(stream, KEYS[2], KEYS[3], ARGV[3], {MOVE_LIMIT})
-- From the stream's first entry ('0'): jobs enqueued before the group existed count.
if not has_group(stream, group) then
  redis.call('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
end

local out, taken = {{}}, 0
local function hand_out(flat, deliveries)
  local fields = fields_of(flat)
  out[#out + 1] = fields['job']
  out[#out + 1] = fields['payload']
  out[#out + 1] = tonumber(fields['attempts']) + deliveries
  taken = taken + 1
end

local cursor = redis.call('GET', KEYS[4]) or '0-0'
for _ = 1, {RECLAIM_ROUNDS} do
  local claimed = redis.call('XAUTOCLAIM', stream, group, consumer, ARGV[4], cursor,
    'COUNT', wanted - taken)
  cursor = claimed[1]
  for _, e in ipairs(claimed[2]) do
    hand_out(e[2], redis.call('XPENDING', stream, group, e[1], e[1], 1)[1][4])
  end
  if cursor == '0-0' or taken >= wanted then break end
end
redis.call('SET', KEYS[4], cursor)

if taken < wanted then
  local read = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', wanted - taken,
    'STREAMS', stream, '>')
  if read then
    for _, e in ipairs(read[1][2]) do hand_out(e[2], 1) end
  end
end
local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
return {{last[1] and last[1][1] or '0-0', out}}
"""
)

# KEYS: jobs, entries. ARGV: group, job id.
# The one change every finished job makes, so it looks nothing up that XACK answers
# itself: XACK counts 1 only for an entry pending in the group (0 for a missing stream,
# group or entry), which is what ``reserved`` checks at length for the rarer changes.
ACK: Final = """
local entry = redis.call('HGET', KEYS[2], ARGV[2])
if not entry or redis.call('XACK', KEYS[1], ARGV[1], entry) == 0 then return 0 end
redis.call('XDEL', KEYS[1], entry)
redis.call('HDEL', KEYS[2], ARGV[2])
return 1
"""

# KEYS: jobs, entries, delayed. ARGV: group, job id, now_us, due_us.
RETRY: Final = (
    _LUA_HELPERS
    + """
local entry, fields, attempts = reserved(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
if not entry then return 0 end
forget(KEYS[1], KEYS[2], ARGV[1], ARGV[2], entry)
local count = string.format('%d', attempts)
if tonumber(ARGV[4]) <= tonumber(ARGV[3]) then
  add_job(KEYS[1], KEYS[2], ARGV[2], count, ARGV[4], fields['payload'])
else
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2] .. '|' .. count .. '|' .. fields['payload'])
end
return 1
"""
)

# KEYS: jobs, entries, dead. ARGV: group, job id, reason, now_us.
BURY: Final = (
    _LUA_HELPERS
    + """
local entry, fields, attempts = reserved(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
if not entry then return 0 end
redis.call('XADD', KEYS[3], '*', 'job', ARGV[2], 'payload', fields['payload'],
  'reason', ARGV[3], 'attempts', string.format('%d', attempts), 'at', ARGV[4])
forget(KEYS[1], KEYS[2], ARGV[1], ARGV[2], entry)
return 1
"""
)

# KEYS: dead. ARGV: limit. Returns {job, payload, reason, attempts, at, ...}, newest first.
DEAD_LIST: Final = (
    _LUA_HELPERS
    + """
local out = {}
for _, e in ipairs(redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', ARGV[1])) do
  local f = fields_of(e[2])
  for _, name in ipairs({'job', 'payload', 'reason', 'attempts', 'at'}) do
    out[#out + 1] = f[name]
  end
end
return out
"""
)

# KEYS: jobs, delayed, dead. ARGV: now_us. Returns {depth, dead, oldest due µs or ''}.
# The stream's head is the job that joined it first, which is the earliest due as long
# as due delayed jobs are moved in before anything else is added (move_due runs first
# in every script that adds); a due job still in the sorted set counts too.
STATS: Final = (
    _LUA_HELPERS
    + """
local oldest = nil
local head = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if head[1] then oldest = tonumber(fields_of(head[1][2])['due']) end
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if first[2] then
  local score = tonumber(first[2])
  if score <= tonumber(ARGV[1]) and (oldest == nil or score < oldest) then oldest = score end
end
local depth = redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2])
return {depth, redis.call('XLEN', KEYS[3]), oldest and string.format('%.0f', oldest) or ''}
"""
)
