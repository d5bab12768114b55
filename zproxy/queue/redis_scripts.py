"""Lua scripts of the Redis write queue: each state change is one atomic script.

Key layout under a prefix P (standalone Redis; key names are derived inside the scripts, so
this is not Redis Cluster compatible, on purpose: the contract does not rest on failover):

- ``P:log``          stream, the durable log: one entry per write not yet terminal, consumer
                     group ``replay``. Never trimmed; an entry is XACKed and XDELed only after
                     a terminal outcome. Every entry is read into the group at enqueue by the
                     placeholder consumer ``queued``; a claim XCLAIMs it to the replaying
                     consumer, a retry or release gives it back. So the PEL shows who holds
                     what, and XAUTOCLAIM sweeps report entries deleted from under the group.
- ``P:w:<id>``       hash: ``data`` (encrypted QueuedWrite), ``state``, ``attempts``,
                     ``accepted_at``, ``okh``, ``sid``, ``idem``, ``done_at``, ``status``,
                     ``ubody`` (encrypted, redacted reply), ``dead_reason``, ``next_at``,
                     ``last_error``, ``requeued_at``, ``done_by`` (the token of the claim
                     that finished it).
- ``P:idem:<h>``     "<id> <body hash>" for sha256(identity, idempotency key), EX dedupe TTL.
- ``P:k:<okh>``      list: the line of write ids of one order key (okh = its sha256).
- ``P:ready``        zset okh -> earliest time its head may be claimed: 0 when ready, the
                     backoff time in backoff, the lease expiry while leased. Lease expiry is
                     the caller's clock (injected), so tests can drive it with a FakeClock.
- ``P:lease:<okh>``  the current claim's fencing token (no TTL: a lapsed lease is simply
                     overwritten by the next claim, and deleted by every outcome).
- ``P:dead``, ``P:applied``  zsets id -> time, the dead letters and recent applied writes.
"""

from __future__ import annotations

ENQUEUE = """
local P = ARGV[1]
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, ' ', 1, true)
  local eid = string.sub(cur, 1, sep - 1)
  if redis.call('EXISTS', P .. 'w:' .. eid) == 1 then
    if string.sub(cur, sep + 1) ~= ARGV[3] then return {2, eid} end
    -- a write, so that WAITAOF on this connection also covers the original entry
    redis.call('HINCRBY', P .. 'w:' .. eid, 'dups', 1)
    return {0, eid}
  end
end
local log = P .. 'log'
redis.pcall('XGROUP', 'CREATE', log, 'replay', '0', 'MKSTREAM')
local sid = redis.call('XADD', log, '*', 'w', ARGV[2])
redis.call('XREADGROUP', 'GROUP', 'replay', 'queued', 'STREAMS', log, '>')
redis.call('HSET', P .. 'w:' .. ARGV[2], 'data', ARGV[4], 'state', 'queued', 'attempts', 0,
  'accepted_at', ARGV[6], 'okh', ARGV[5], 'sid', sid, 'idem', KEYS[1])
redis.call('RPUSH', P .. 'k:' .. ARGV[5], ARGV[2])
redis.call('ZADD', P .. 'ready', 'NX', 0, ARGV[5])
redis.call('SET', KEYS[1], ARGV[2] .. ' ' .. ARGV[3], 'EX', ARGV[7])
return {1, ARGV[2]}
"""

# ARGV: prefix, now, lease_until, max_keys, scan, token_base, consumer
CLAIM = """
local P = ARGV[1]
local out = {}
local cands = redis.call('ZRANGEBYSCORE', P .. 'ready', '-inf', ARGV[2], 'LIMIT', 0, ARGV[5])
for i, okh in ipairs(cands) do
  if #out >= tonumber(ARGV[4]) then break end
  local line = P .. 'k:' .. okh
  local head = redis.call('LINDEX', line, 0)
  if not head then
    redis.call('ZREM', P .. 'ready', okh)
  else
    local h = P .. 'w:' .. head
    local f = redis.call('HMGET', h, 'data', 'requeued_at', 'sid')
    if not f[1] then
      -- a line entry without its write: drop it, report it
      redis.call('LPOP', line)
      if redis.call('LLEN', line) == 0 then redis.call('ZREM', P .. 'ready', okh) end
      out[#out + 1] = {head, okh, '', -1, '', '', ''}
    else
      local token = ARGV[6] .. ':' .. i
      redis.call('SET', P .. 'lease:' .. okh, token)
      redis.call('ZADD', P .. 'ready', ARGV[3], okh)
      redis.call('HSET', h, 'state', 'replaying')
      local attempts = redis.call('HINCRBY', h, 'attempts', 1)
      if f[3] then redis.call('XCLAIM', P .. 'log', 'replay', ARGV[7], 0, f[3], 'JUSTID') end
      out[#out + 1] = {head, okh, token, attempts, f[1], f[2] or '', f[3] or ''}
    end
  end
end
return out
"""

_HOLDS = """
local P = ARGV[1]
local okh = ARGV[3]
if redis.call('GET', P .. 'lease:' .. okh) ~= ARGV[2] then return 0 end
if redis.call('LINDEX', P .. 'k:' .. okh, 0) ~= ARGV[4] then return 0 end
local h = P .. 'w:' .. ARGV[4]
local sid = redis.call('HGET', h, 'sid')
"""

# ARGV: prefix, token, okh, id, lease_until, consumer
RENEW = (
    _HOLDS
    + """
redis.call('ZADD', P .. 'ready', 'XX', ARGV[5], okh)
if sid then redis.call('XCLAIM', P .. 'log', 'replay', ARGV[6], 0, sid, 'JUSTID') end
return 1
"""
)

# ARGV: prefix, token, okh, id, hold_until, set_next (0/1), status, error
REQUEUE = (
    _HOLDS
    + """
redis.call('HSET', h, 'state', 'queued')
if ARGV[6] == '1' then
  redis.call('HSET', h, 'next_at', ARGV[5], 'last_error', ARGV[8], 'status', ARGV[7])
end
if sid then redis.call('XCLAIM', P .. 'log', 'replay', 'queued', 0, sid, 'JUSTID') end
redis.call('ZADD', P .. 'ready', ARGV[5], okh)
redis.call('DEL', P .. 'lease:' .. okh)
return 1
"""
)

# ARGV: prefix, token, okh, id, state, now, status, ubody, reason, retention, keep.
# Idempotent for its claim: sent again (a retry after the reply was lost) it answers 1.
FINISH = (
    """
local done = redis.call('HMGET', ARGV[1] .. 'w:' .. ARGV[4], 'state', 'done_by')
if done[1] == ARGV[5] and done[2] == ARGV[2] then return 1 end
"""
    + _HOLDS
    + """
local line = P .. 'k:' .. okh
redis.call('LPOP', line)
if sid then
  redis.call('XACK', P .. 'log', 'replay', sid)
  redis.call('XDEL', P .. 'log', sid)
end
redis.call('HSET', h, 'state', ARGV[5], 'done_at', ARGV[6], 'status', ARGV[7],
  'ubody', ARGV[8], 'dead_reason', ARGV[9], 'done_by', ARGV[2])
redis.call('HDEL', h, 'next_at', 'sid')
local index = P .. ARGV[5]
redis.call('ZADD', index, ARGV[6], ARGV[4])
if tonumber(ARGV[10]) > 0 then redis.call('EXPIRE', h, ARGV[10]) end
if tonumber(ARGV[11]) > 0 then
  redis.call('ZREMRANGEBYRANK', index, 0, -1 - tonumber(ARGV[11]))
end
redis.call('DEL', P .. 'lease:' .. okh)
if redis.call('LLEN', line) > 0 then
  redis.call('ZADD', P .. 'ready', 0, okh)
else
  redis.call('ZREM', P .. 'ready', okh)
end
return 1
"""
)

# ARGV: prefix, id, now
OPERATOR_RETRY = """
local P = ARGV[1]
local h = P .. 'w:' .. ARGV[2]
local f = redis.call('HMGET', h, 'state', 'okh', 'dead_reason')
if f[1] ~= 'dead' then return 0 end
local log = P .. 'log'
redis.pcall('XGROUP', 'CREATE', log, 'replay', '0', 'MKSTREAM')
local sid = redis.call('XADD', log, '*', 'w', ARGV[2])
redis.call('XREADGROUP', 'GROUP', 'replay', 'queued', 'STREAMS', log, '>')
redis.call('PERSIST', h)
redis.call('HSET', h, 'state', 'queued', 'sid', sid, 'requeued_at', ARGV[3],
  'last_error', 'dead: ' .. (f[3] or ''))
redis.call('HDEL', h, 'dead_reason', 'done_at', 'next_at')
redis.call('RPUSH', P .. 'k:' .. f[2], ARGV[2])
redis.call('ZADD', P .. 'ready', 'NX', 0, f[2])
redis.call('ZREM', P .. 'dead', ARGV[2])
return 1
"""

# ARGV: prefix, now. Lines in backoff (ready score in the future, no lease) become ready.
EXPEDITE = """
local P = ARGV[1]
local ready = P .. 'ready'
local n = 0
for _, okh in ipairs(redis.call('ZRANGEBYSCORE', ready, '(' .. ARGV[2], '+inf')) do
  if redis.call('EXISTS', P .. 'lease:' .. okh) == 0 then
    redis.call('ZADD', ready, 0, okh)
    n = n + 1
  end
end
return n
"""

# ARGV: prefix, id
DROP = """
local P = ARGV[1]
local h = P .. 'w:' .. ARGV[2]
local f = redis.call('HMGET', h, 'state', 'okh', 'sid', 'idem')
if f[1] == 'queued' then
  local line = P .. 'k:' .. f[2]
  redis.call('LREM', line, 1, ARGV[2])
  if redis.call('LLEN', line) == 0 then
    redis.call('ZREM', P .. 'ready', f[2])
    redis.call('DEL', P .. 'lease:' .. f[2])
  end
  if f[3] then
    redis.call('XACK', P .. 'log', 'replay', f[3])
    redis.call('XDEL', P .. 'log', f[3])
  end
elseif f[1] ~= 'dead' then
  return 0
end
if f[4] then
  local cur = redis.call('GET', f[4])
  if cur and string.sub(cur, 1, #ARGV[2] + 1) == ARGV[2] .. ' ' then redis.call('DEL', f[4]) end
end
redis.call('DEL', h)
redis.call('ZREM', P .. 'dead', ARGV[2])
return 1
"""

# ARGV: prefix, id, now — a write left "replaying" whose lease lapsed goes back to "queued"
UNSTICK = """
local P = ARGV[1]
local h = P .. 'w:' .. ARGV[2]
local f = redis.call('HMGET', h, 'state', 'okh')
if f[1] ~= 'replaying' then return 0 end
local until_ = redis.call('ZSCORE', P .. 'ready', f[2])
if until_ and tonumber(until_) > tonumber(ARGV[3]) then return 0 end
redis.call('HSET', h, 'state', 'queued')
return 1
"""
